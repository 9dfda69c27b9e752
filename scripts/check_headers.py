#!/usr/bin/env python3
"""Checks mnistgpu's hand-declared CUDA API against the real headers.

Run on a machine that has the CUDA, cuDNN, cuBLAS and NVRTC headers (the GPU
machine: toolkit or pip wheels). For every function gpu/internal/cuda
resolves with dlsym it prints the header's prototype (to read against the C
wrapper in shim.go), and for every enum value we hard-code it compares the
header's value with ours. Exit status 1 when a value differs or a function
is missing from every header.
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIM = os.path.join(ROOT, "gpu", "internal", "cuda", "shim.go")

# Enum values declared in shim.go (name in the headers -> our value).
ENUMS = {
    "CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT": 16,
    "CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR": 75,
    "CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR": 76,
    "CUDA_SUCCESS": 0,
    "CUDNN_TENSOR_NCHW": 0,
    "CUDNN_TENSOR_NHWC": 1,
    "CUDNN_DATA_FLOAT": 0,
    "CUDNN_CROSS_CORRELATION": 1,
    "CUDNN_BATCHNORM_SPATIAL": 1,
    "CUDNN_DEFAULT_MATH": 0,
    "CUDNN_FMA_MATH": 3,
    "CUDNN_STATUS_SUCCESS": 0,
    "CUBLAS_OP_N": 0,
    "CUBLAS_OP_T": 1,
    "CUBLAS_STATUS_SUCCESS": 0,
    "CUBLAS_STATUS_NOT_INITIALIZED": 1,
    "CUBLAS_STATUS_ALLOC_FAILED": 3,
    "CUBLAS_STATUS_INVALID_VALUE": 7,
    "CUBLAS_STATUS_ARCH_MISMATCH": 8,
    "CUBLAS_STATUS_MAPPING_ERROR": 11,
    "CUBLAS_STATUS_EXECUTION_FAILED": 13,
    "CUBLAS_STATUS_INTERNAL_ERROR": 14,
    "CUBLAS_STATUS_NOT_SUPPORTED": 15,
    "CUBLAS_STATUS_LICENSE_ERROR": 16,
    "NVRTC_SUCCESS": 0,
    "MAJOR_VERSION": 0,
    "MINOR_VERSION": 1,
    "PATCH_LEVEL": 2,
}


def header_dirs():
    pats = [os.environ.get("CUDA_HOME", "/usr/local/cuda") + "/include", "/usr/local/cuda*/include",
            "/usr/include", "/usr/local/lib/python3*/*-packages/nvidia/*/include",
            "/usr/lib/python3*/*-packages/nvidia/*/include", "/opt/conda/lib/python3*/site-packages/nvidia/*/include",
            os.path.expanduser("~/.local/lib/python3*/site-packages/nvidia/*/include")]
    dirs = []
    for p in pats:
        dirs += [d for d in glob.glob(p) if os.path.isdir(d)]
    return dirs


def headers():
    names = ("cuda.h", "cudnn*.h", "cublas_api.h", "nvrtc.h", "library_types.h")
    files = []
    for d in header_dirs():
        for n in names:
            files += glob.glob(os.path.join(d, n))
    return sorted(set(files))


def main():
    shim = open(SHIM).read()
    funcs = re.findall(r'\{&\w+, "(\w+)"\}', shim)
    files = headers()
    print(f"{len(files)} headers:", *files, sep="\n  ")
    text = {f: re.sub(r"/\*.*?\*/", " ", open(f, errors="replace").read(), flags=re.S) for f in files}
    bad = 0
    print(f"\n== {len(funcs)} functions (header prototype; compare with the C wrappers in shim.go)")
    for fn in funcs:
        found = None
        # Versioned symbols (cuMemAlloc_v2) are declared under the plain name
        # and mapped by a #define; check that mapping too.
        base = fn[:-3] if fn.endswith("_v2") else fn
        for f, t in text.items():
            m = re.search(r"(?m)^[\w \t\*]*\b" + fn + r"\s*\(([^;{]*)\)\s*;", t)
            if m:
                found = (os.path.basename(f), " ".join(m.group(0).split()))
                break
            m = re.search(r"(?m)^[\w \t\*]*\b" + base + r"\s*\(([^;{]*)\)\s*;", t)
            if m and base != fn:
                proto = " ".join(m.group(0).split())
                mapped = re.search(r"#define\s+" + base + r"\s+(?:__CUDA_API_PTSZ\()?" + fn + r"\b", t)
                proto += "  [#define " + base + " " + fn + (" found]" if mapped else " NOT found]")
                found = (os.path.basename(f), proto)
                break
        if found:
            print(f"{fn}: [{found[0]}] {found[1]}")
        else:
            print(f"{fn}: NOT FOUND in any header")
            bad += 1
    print(f"\n== {len(ENUMS)} enum values")
    for name, ours in ENUMS.items():
        value = None
        for t in text.values():
            m = re.search(r"\b" + name + r"\s*=\s*(0x[0-9a-fA-F]+|\d+)", t)
            if m:
                value = int(m.group(1), 0)
                break
        if value is None:
            # Enumerators without an explicit value (MAJOR_VERSION, ...) count from 0.
            status = "no explicit value (counts from the enum's start; check by eye)"
        elif value == ours:
            status = "ok"
        else:
            status = f"MISMATCH: header says {value}"
            bad += 1
        print(f"{name} = {ours}: {status}")
    print(f"\n{bad} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

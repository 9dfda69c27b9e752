#!/usr/bin/env python3
"""Checks mnistgpu's hand-declared CUDA API against the real headers.

Run on a machine that has the CUDA, cuDNN, cuBLAS and NVRTC headers (the GPU
machine: toolkit or pip wheels). For every function gpu/internal/cuda
resolves with dlsym (gpu/internal/cuda/symbols.h) it prints the header's
prototype (to read against the C wrapper in gpu/internal/cuda/<library>.go),
for every enum value we hard-code it compares the header's value with ours,
and it compares the cuDNN algorithm-result struct's fields with ours. Exit
status 1 when a value differs or a function is missing from every header.

Headers are searched in $CUDA_HOME, /usr/local/cuda*, /usr/include and the
nvidia/*/include folders of the site-packages of this python3 and of the
usual Python installs (CUDA 13 wheels: nvidia/cu13/include), or only in the
folders given as arguments. When several folders hold the same header, the
first wins: the order above, newest CUDA first.
"""
import glob
import os
import re
import site
import sys
import sysconfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CUDA_PKG = os.path.join(ROOT, "gpu", "internal", "cuda")

# Our cudnnConvolution*AlgoPerf_t (mg_algo_perf in shim.h), field by field.
ALGO_PERF_FIELDS = ["algo", "status", "time", "memory", "determinism", "mathType", "reserved[3]"]

# Enum values declared in gpu/internal/cuda (name in the headers -> our value).
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


def version_key(path):
    """Sorts cuda-13.0 before cuda-12.6 and python3.12 before python3.9."""
    return [int(n) for n in re.findall(r"\d+", path)]


def site_dirs():
    sites = []
    try:
        sites += site.getsitepackages()
    except AttributeError:  # old virtualenvs
        pass
    sites += [site.getusersitepackages(), sysconfig.get_paths().get("purelib", ""), sysconfig.get_paths().get("platlib", "")]
    for pat in ("/opt/torch/.venv/lib/python3*/site-packages", "/usr/local/lib/python3*/*-packages",
                "/usr/lib/python3*/*-packages", "/opt/conda/lib/python3*/site-packages",
                os.path.expanduser("~/.local/lib/python3*/site-packages")):
        sites += sorted(glob.glob(pat), key=version_key, reverse=True)
    out = []
    for s in sites:
        if s and os.path.isdir(s) and s not in out:
            out.append(s)
    return out


def header_dirs():
    dirs = []
    if os.environ.get("CUDA_HOME"):
        dirs.append(os.environ["CUDA_HOME"] + "/include")
    for root in sorted(glob.glob("/usr/local/cuda*"), key=version_key, reverse=True):
        dirs += [root + "/include", root + "/targets/x86_64-linux/include"]
    dirs.append("/usr/include")
    for s in site_dirs():
        dirs += sorted(glob.glob(os.path.join(s, "nvidia", "*", "include")), key=version_key, reverse=True)
    out = []
    for d in dirs:
        real = os.path.realpath(d)
        if os.path.isdir(d) and real not in (os.path.realpath(o) for o in out):
            out.append(d)
    return out


def headers(dirs):
    """The first file of each header name, in the order of dirs."""
    names = ("cuda.h", "cudnn*.h", "cublas_api.h", "nvrtc.h", "library_types.h")
    first = {}
    for d in dirs:
        for n in names:
            for f in sorted(glob.glob(os.path.join(d, n))):
                first.setdefault(os.path.basename(f), f)
    return sorted(first.values())


def our_functions():
    text = open(os.path.join(CUDA_PKG, "symbols.h")).read()
    return re.findall(r"(?m)^MG_SYMBOL\(\w+, (\w+)\)", text)


def check_algo_perf(text):
    """Compares cudnnConvolution*AlgoPerfStruct's fields with ours; returns the number of problems."""
    bad = 0
    for kind in ("Fwd", "BwdData", "BwdFilter"):
        struct = "cudnnConvolution" + kind + "AlgoPerfStruct"
        body = None
        for t in text.values():
            m = re.search(r"typedef\s+struct\s+" + struct + r"\s*\{([^}]*)\}", t)
            if m:
                body = m.group(1)
                break
        if body is None:
            print(f"{struct}: not found")
            bad += 1
            continue
        fields = [re.sub(r"\s+", "", f.split()[-1]) for f in body.split(";") if f.strip()]
        status = "ok" if fields == ALGO_PERF_FIELDS else f"MISMATCH: header has {fields}"
        bad += status != "ok"
        print(f"{struct}: {status}")
    return bad


def main():
    dirs = sys.argv[1:] or header_dirs()
    funcs = our_functions()
    files = headers(dirs)
    print(f"{len(dirs)} include folders searched:", *dirs, sep="\n  ")
    print(f"{len(files)} headers:", *files, sep="\n  ")
    if not files:
        print("no headers found")
        return 1
    text = {f: re.sub(r"/\*.*?\*/", " ", open(f, errors="replace").read(), flags=re.S) for f in files}
    bad = 0
    print(f"\n== {len(funcs)} functions (header prototype; compare with the C wrappers in gpu/internal/cuda)")
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
    print("\n== the cuDNN algorithm-result struct")
    bad += check_algo_perf(text)
    print(f"\n{bad} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

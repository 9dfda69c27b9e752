//go:build cgo

package cuda

/*
// NVRTC (libnvrtc.so.13 or .12, nvrtc.h): compiling the kernels; needs no
// GPU and no context.
#include "shim.h"

static int mg_nvrtcVersion(int *major, int *minor) { return CALL(S_nvrtcVersion, int(*)(int *, int *), major, minor); }
static const char *mg_nvrtcGetErrorString(int r) { return CALL(S_nvrtcGetErrorString, const char *(*)(int), r); }
static int mg_nvrtcGetNumSupportedArchs(int *n) { return CALL(S_nvrtcGetNumSupportedArchs, int(*)(int *), n); }
static int mg_nvrtcGetSupportedArchs(int *archs) { return CALL(S_nvrtcGetSupportedArchs, int(*)(int *), archs); }
static int mg_nvrtcCreateProgram(nvrtcProgram *p, const char *src, const char *name) {
	return CALL(S_nvrtcCreateProgram, int(*)(nvrtcProgram *, const char *, const char *, int, const char *const *,
		const char *const *), p, src, name, 0, NULL, NULL);
}
static int mg_nvrtcCompileProgram(nvrtcProgram p, int n, char **options) {
	return CALL(S_nvrtcCompileProgram, int(*)(nvrtcProgram, int, const char *const *), p, n, (const char *const *)options);
}
static int mg_nvrtcGetProgramLogSize(nvrtcProgram p, size_t *n) { return CALL(S_nvrtcGetProgramLogSize, int(*)(nvrtcProgram, size_t *), p, n); }
static int mg_nvrtcGetProgramLog(nvrtcProgram p, char *log) { return CALL(S_nvrtcGetProgramLog, int(*)(nvrtcProgram, char *), p, log); }
static int mg_nvrtcGetOutputSize(nvrtcProgram p, int cubin, size_t *n) {
	return CALL(cubin ? S_nvrtcGetCUBINSize : S_nvrtcGetPTXSize, int(*)(nvrtcProgram, size_t *), p, n);
}
static int mg_nvrtcGetOutput(nvrtcProgram p, int cubin, char *out) {
	return CALL(cubin ? S_nvrtcGetCUBIN : S_nvrtcGetPTX, int(*)(nvrtcProgram, char *), p, out);
}
static int mg_nvrtcDestroyProgram(nvrtcProgram *p) { return CALL(S_nvrtcDestroyProgram, int(*)(nvrtcProgram *), p); }
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// NVRTCVersion is NVRTC's CUDA version.
func NVRTCVersion() (major, minor int, err error) {
	var ma, mi C.int
	err = checkNVRTC("nvrtcVersion", C.mg_nvrtcVersion(&ma, &mi))
	return int(ma), int(mi), err
}

// SupportedArchs lists the virtual architectures NVRTC compiles for
// (e.g. 52 ... 90).
func SupportedArchs() ([]int, error) {
	var n C.int
	if err := checkNVRTC("nvrtcGetNumSupportedArchs", C.mg_nvrtcGetNumSupportedArchs(&n)); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	archs := make([]C.int, n)
	if err := checkNVRTC("nvrtcGetSupportedArchs", C.mg_nvrtcGetSupportedArchs(&archs[0])); err != nil {
		return nil, err
	}
	out := make([]int, n)
	for i, a := range archs {
		out[i] = int(a)
	}
	return out, nil
}

// Compile compiles CUDA C source with NVRTC and returns a CUBIN (cubin true,
// for a --gpu-architecture=sm_XX option) or PTX, and the compiler's log. A
// compilation error carries the log.
func Compile(source, name string, options []string, cubin bool) (image []byte, log string, err error) {
	src, cname := C.CString(source), C.CString(name)
	defer C.free(unsafe.Pointer(src))
	defer C.free(unsafe.Pointer(cname))
	var prog C.nvrtcProgram
	if err := checkNVRTC("nvrtcCreateProgram", C.mg_nvrtcCreateProgram(&prog, src, cname)); err != nil {
		return nil, "", err
	}
	defer C.mg_nvrtcDestroyProgram(&prog)
	opts := C.malloc(C.size_t(len(options)+1) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(opts)
	optSlice := unsafe.Slice((**C.char)(opts), len(options)+1)
	for i, o := range options {
		optSlice[i] = C.CString(o)
		defer C.free(unsafe.Pointer(optSlice[i]))
	}
	compileErr := checkNVRTC("nvrtcCompileProgram", C.mg_nvrtcCompileProgram(prog, C.int(len(options)), (**C.char)(opts)))
	var logSize C.size_t
	if err := checkNVRTC("nvrtcGetProgramLogSize", C.mg_nvrtcGetProgramLogSize(prog, &logSize)); err == nil && logSize > 1 {
		buf := make([]byte, logSize)
		if C.mg_nvrtcGetProgramLog(prog, (*C.char)(unsafe.Pointer(&buf[0]))) == 0 {
			log = strings.TrimRight(string(buf[:logSize-1]), "\n")
		}
	}
	if compileErr != nil {
		if log != "" {
			compileErr = fmt.Errorf("%w:\n%s", compileErr, log)
		}
		return nil, log, compileErr
	}
	flag := C.int(0)
	if cubin {
		flag = 1
	}
	var size C.size_t
	if err := checkNVRTC("nvrtcGet{CUBIN,PTX}Size", C.mg_nvrtcGetOutputSize(prog, flag, &size)); err != nil {
		return nil, log, err
	}
	image = make([]byte, size)
	if size > 0 {
		if err := checkNVRTC("nvrtcGet{CUBIN,PTX}", C.mg_nvrtcGetOutput(prog, flag, (*C.char)(unsafe.Pointer(&image[0])))); err != nil {
			return nil, log, err
		}
	}
	if !cubin {
		image = bytesBeforeNUL(image)
	}
	return image, log, nil
}

func bytesBeforeNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

func checkNVRTC(call string, r C.int) error {
	if r == 0 {
		return nil
	}
	return &Error{Call: call, Lib: "NVRTC", Code: int(r), Message: C.GoString(C.mg_nvrtcGetErrorString(r))}
}

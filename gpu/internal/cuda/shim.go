//go:build cgo

package cuda

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

// Types from the CUDA driver, cuDNN, cuBLAS and NVRTC API references. Handles
// are opaque pointers; enums are int; CUdeviceptr is unsigned long long.
typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUstream;
typedef void *CUmodule;
typedef void *CUfunction;
typedef unsigned long long CUdeviceptr;
typedef void *cudnnHandle_t;
typedef void *cudnnTensorDescriptor_t;
typedef void *cudnnFilterDescriptor_t;
typedef void *cudnnConvolutionDescriptor_t;
typedef void *cublasHandle_t;
typedef void *nvrtcProgram;

// cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t share this layout in
// cuDNN 8 and 9: algo, status, time, memory, determinism, mathType, reserved[3].
typedef struct {
	int algo;
	int status;
	float time;
	size_t memory;
	int determinism;
	int mathType;
	int reserved[3];
} mg_algo_perf;

// Symbol slots, in the order of symbolNames on the Go side.
enum {
	S_cuInit, S_cuDriverGetVersion, S_cuDeviceGetCount, S_cuDeviceGet, S_cuDeviceGetName,
	S_cuDeviceGetAttribute, S_cuDeviceTotalMem_v2, S_cuDevicePrimaryCtxRetain,
	S_cuCtxSetCurrent, S_cuStreamCreate, S_cuStreamSynchronize,
	S_cuStreamDestroy_v2, S_cuMemAlloc_v2, S_cuMemFree_v2, S_cuMemGetInfo_v2,
	S_cuMemcpyHtoDAsync_v2, S_cuMemcpyDtoHAsync_v2, S_cuMemcpyDtoDAsync_v2, S_cuMemsetD32Async,
	S_cuModuleLoadData, S_cuModuleUnload, S_cuModuleGetFunction, S_cuLaunchKernel,
	S_cuGetErrorName, S_cuGetErrorString,

	S_cudnnGetVersion, S_cudnnGetErrorString, S_cudnnCreate, S_cudnnDestroy, S_cudnnSetStream,
	S_cudnnCreateTensorDescriptor, S_cudnnSetTensor4dDescriptor, S_cudnnDestroyTensorDescriptor,
	S_cudnnCreateFilterDescriptor, S_cudnnSetFilter4dDescriptor, S_cudnnDestroyFilterDescriptor,
	S_cudnnCreateConvolutionDescriptor, S_cudnnSetConvolution2dDescriptor,
	S_cudnnSetConvolutionMathType, S_cudnnDestroyConvolutionDescriptor,
	S_cudnnFindConvolutionForwardAlgorithm, S_cudnnFindConvolutionBackwardDataAlgorithm,
	S_cudnnFindConvolutionBackwardFilterAlgorithm, S_cudnnConvolutionForward,
	S_cudnnConvolutionBackwardData, S_cudnnConvolutionBackwardFilter,
	S_cudnnBatchNormalizationForwardTraining, S_cudnnBatchNormalizationBackward,

	S_cublasCreate_v2, S_cublasDestroy_v2, S_cublasSetStream_v2, S_cublasGetProperty,
	S_cublasSgemm_v2, S_cublasSgemv_v2,

	S_nvrtcVersion, S_nvrtcGetErrorString, S_nvrtcGetNumSupportedArchs, S_nvrtcGetSupportedArchs,
	S_nvrtcCreateProgram, S_nvrtcCompileProgram, S_nvrtcGetProgramLogSize, S_nvrtcGetProgramLog,
	S_nvrtcGetCUBINSize, S_nvrtcGetCUBIN, S_nvrtcGetPTXSize, S_nvrtcGetPTX, S_nvrtcDestroyProgram,

	S_COUNT
};

static void *mg_sym[S_COUNT];

static void mg_set_sym(int slot, void *p) { mg_sym[slot] = p; }
static int mg_has_sym(int slot) { return mg_sym[slot] != NULL; }

static void *mg_dlopen(const char *path) { return dlopen(path, RTLD_NOW | RTLD_GLOBAL); }
static const char *mg_dlerror(void) { return dlerror(); }

// mg_origin returns the file a resolved symbol was loaded from.
static const char *mg_origin(void *sym) {
	Dl_info info;
	if (sym == NULL || dladdr(sym, &info) == 0) return NULL;
	return info.dli_fname;
}

// The driver API keeps a current context per OS thread, and Go moves
// goroutines between threads: every wrapper makes the backend's context
// current on the calling thread first (a thread-local compare when it is).
// A failure to do so is reported as MG_CTX_FAILED with the driver's code in
// mg_ctx_result: a plain global, since the Go side reads it in a later cgo
// call that may run on another thread (it only feeds the error message).
#define MG_CTX_FAILED (-1)
static CUcontext mg_ctx;
static __thread CUcontext mg_thread_ctx;
static int mg_ctx_result;

static void mg_set_context(CUcontext ctx) { mg_ctx = ctx; mg_thread_ctx = NULL; }
static int mg_context_result(void) { return mg_ctx_result; }

#define ENSURE_CTX()                                                                    \
	do {                                                                                \
		if (mg_ctx != NULL && mg_thread_ctx != mg_ctx) {                                \
			int r_ = ((CUresult(*)(CUcontext))mg_sym[S_cuCtxSetCurrent])(mg_ctx);       \
			if (r_ != 0) { mg_ctx_result = r_; return MG_CTX_FAILED; }                  \
			mg_thread_ctx = mg_ctx;                                                     \
		}                                                                               \
	} while (0)

#define CALL(slot, type, ...) (((type)mg_sym[slot])(__VA_ARGS__))

// ---- driver ----
static int mg_cuInit(void) { return CALL(S_cuInit, CUresult(*)(unsigned), 0); }
static int mg_cuDriverGetVersion(int *v) { return CALL(S_cuDriverGetVersion, CUresult(*)(int *), v); }
static int mg_cuDeviceGetCount(int *n) { return CALL(S_cuDeviceGetCount, CUresult(*)(int *), n); }
static int mg_cuDeviceGet(CUdevice *d, int ordinal) { return CALL(S_cuDeviceGet, CUresult(*)(CUdevice *, int), d, ordinal); }
static int mg_cuDeviceGetName(char *name, int len, CUdevice d) {
	return CALL(S_cuDeviceGetName, CUresult(*)(char *, int, CUdevice), name, len, d);
}
static int mg_cuDeviceGetAttribute(int *v, int attr, CUdevice d) {
	return CALL(S_cuDeviceGetAttribute, CUresult(*)(int *, int, CUdevice), v, attr, d);
}
static int mg_cuDeviceTotalMem(size_t *bytes, CUdevice d) {
	return CALL(S_cuDeviceTotalMem_v2, CUresult(*)(size_t *, CUdevice), bytes, d);
}
static int mg_cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice d) {
	return CALL(S_cuDevicePrimaryCtxRetain, CUresult(*)(CUcontext *, CUdevice), ctx, d);
}
static int mg_cuStreamCreate(CUstream *s) { ENSURE_CTX(); return CALL(S_cuStreamCreate, CUresult(*)(CUstream *, unsigned), s, 0); }
static int mg_cuStreamSynchronize(CUstream s) { ENSURE_CTX(); return CALL(S_cuStreamSynchronize, CUresult(*)(CUstream), s); }
static int mg_cuStreamDestroy(CUstream s) { ENSURE_CTX(); return CALL(S_cuStreamDestroy_v2, CUresult(*)(CUstream), s); }
static int mg_cuMemAlloc(CUdeviceptr *p, size_t bytes) { ENSURE_CTX(); return CALL(S_cuMemAlloc_v2, CUresult(*)(CUdeviceptr *, size_t), p, bytes); }
static int mg_cuMemFree(CUdeviceptr p) { ENSURE_CTX(); return CALL(S_cuMemFree_v2, CUresult(*)(CUdeviceptr), p); }
static int mg_cuMemGetInfo(size_t *free_bytes, size_t *total) {
	ENSURE_CTX();
	return CALL(S_cuMemGetInfo_v2, CUresult(*)(size_t *, size_t *), free_bytes, total);
}
static int mg_cuMemcpyHtoDAsync(CUdeviceptr dst, const void *src, size_t bytes, CUstream s) {
	ENSURE_CTX();
	return CALL(S_cuMemcpyHtoDAsync_v2, CUresult(*)(CUdeviceptr, const void *, size_t, CUstream), dst, src, bytes, s);
}
static int mg_cuMemcpyDtoHAsync(void *dst, CUdeviceptr src, size_t bytes, CUstream s) {
	ENSURE_CTX();
	return CALL(S_cuMemcpyDtoHAsync_v2, CUresult(*)(void *, CUdeviceptr, size_t, CUstream), dst, src, bytes, s);
}
static int mg_cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s) {
	ENSURE_CTX();
	return CALL(S_cuMemcpyDtoDAsync_v2, CUresult(*)(CUdeviceptr, CUdeviceptr, size_t, CUstream), dst, src, bytes, s);
}
static int mg_cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t n, CUstream s) {
	ENSURE_CTX();
	return CALL(S_cuMemsetD32Async, CUresult(*)(CUdeviceptr, unsigned, size_t, CUstream), dst, value, n, s);
}
static int mg_cuModuleLoadData(CUmodule *m, const void *image) {
	ENSURE_CTX();
	return CALL(S_cuModuleLoadData, CUresult(*)(CUmodule *, const void *), m, image);
}
static int mg_cuModuleUnload(CUmodule m) { ENSURE_CTX(); return CALL(S_cuModuleUnload, CUresult(*)(CUmodule), m); }
static int mg_cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
	ENSURE_CTX();
	return CALL(S_cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), f, m, name);
}

// mg_cuLaunchKernel takes the arguments packed in one buffer (no pointers
// into Go memory inside it): offsets[i] is where argument i starts. The
// driver copies the arguments before returning.
static int mg_cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
		unsigned bz, unsigned shared, CUstream s, char *args, const int *offsets, int nargs) {
	void *params[32];
	if (nargs > 32) return 1; // CUDA_ERROR_INVALID_VALUE
	for (int i = 0; i < nargs; i++) params[i] = args + offsets[i];
	ENSURE_CTX();
	return CALL(S_cuLaunchKernel,
		CUresult(*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **),
		f, gx, gy, gz, bx, by, bz, shared, s, params, NULL);
}
static const char *mg_cuErrorText(int code, int name) {
	const char *s = NULL;
	int slot = name ? S_cuGetErrorName : S_cuGetErrorString;
	if (mg_sym[slot] == NULL || CALL(slot, CUresult(*)(CUresult, const char **), code, &s) != 0) return NULL;
	return s;
}

// ---- cuDNN ----
static size_t mg_cudnnGetVersion(void) { return CALL(S_cudnnGetVersion, size_t(*)(void)); }
static const char *mg_cudnnGetErrorString(int status) { return CALL(S_cudnnGetErrorString, const char *(*)(int), status); }
static int mg_cudnnCreate(cudnnHandle_t *h) { ENSURE_CTX(); return CALL(S_cudnnCreate, int(*)(cudnnHandle_t *), h); }
static int mg_cudnnDestroy(cudnnHandle_t h) { ENSURE_CTX(); return CALL(S_cudnnDestroy, int(*)(cudnnHandle_t), h); }
static int mg_cudnnSetStream(cudnnHandle_t h, CUstream s) { ENSURE_CTX(); return CALL(S_cudnnSetStream, int(*)(cudnnHandle_t, CUstream), h, s); }
static int mg_cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *d) {
	return CALL(S_cudnnCreateTensorDescriptor, int(*)(cudnnTensorDescriptor_t *), d);
}
static int mg_cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, int format, int dtype, int n, int c, int h, int w) {
	return CALL(S_cudnnSetTensor4dDescriptor, int(*)(cudnnTensorDescriptor_t, int, int, int, int, int, int), d, format, dtype, n, c, h, w);
}
static int mg_cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
	return CALL(S_cudnnDestroyTensorDescriptor, int(*)(cudnnTensorDescriptor_t), d);
}
static int mg_cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *d) {
	return CALL(S_cudnnCreateFilterDescriptor, int(*)(cudnnFilterDescriptor_t *), d);
}
static int mg_cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, int dtype, int format, int k, int c, int h, int w) {
	return CALL(S_cudnnSetFilter4dDescriptor, int(*)(cudnnFilterDescriptor_t, int, int, int, int, int, int), d, dtype, format, k, c, h, w);
}
static int mg_cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
	return CALL(S_cudnnDestroyFilterDescriptor, int(*)(cudnnFilterDescriptor_t), d);
}
static int mg_cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *d) {
	return CALL(S_cudnnCreateConvolutionDescriptor, int(*)(cudnnConvolutionDescriptor_t *), d);
}
static int mg_cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v,
		int dil_h, int dil_w, int mode, int compute) {
	return CALL(S_cudnnSetConvolution2dDescriptor, int(*)(cudnnConvolutionDescriptor_t, int, int, int, int, int, int, int, int),
		d, pad_h, pad_w, u, v, dil_h, dil_w, mode, compute);
}
static int mg_cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, int math) {
	return CALL(S_cudnnSetConvolutionMathType, int(*)(cudnnConvolutionDescriptor_t, int), d, math);
}
static int mg_cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
	return CALL(S_cudnnDestroyConvolutionDescriptor, int(*)(cudnnConvolutionDescriptor_t), d);
}
typedef int (*mg_find_fn)(cudnnHandle_t, void *, void *, cudnnConvolutionDescriptor_t, void *, int, int *, mg_algo_perf *);
// mg_cudnnFind runs one of the three Find*Algorithm calls; their argument
// lists differ only in which descriptors come first (see the Go side).
static int mg_cudnnFind(int slot, cudnnHandle_t h, void *a, void *b, cudnnConvolutionDescriptor_t conv, void *c,
		int requested, int *returned, mg_algo_perf *perf) {
	ENSURE_CTX();
	return ((mg_find_fn)mg_sym[slot])(h, a, b, conv, c, requested, returned, perf);
}
typedef int (*mg_conv_fn)(cudnnHandle_t, const void *, void *, const void *, void *, const void *,
	cudnnConvolutionDescriptor_t, int, void *, size_t, const void *, void *, void *);
// mg_cudnnConv runs ConvolutionForward, BackwardData or BackwardFilter: all
// three take (handle, alpha, descA, a, descB, b, conv, algo, workspace,
// workspace size, beta, descOut, out).
static int mg_cudnnConv(int slot, cudnnHandle_t h, float alpha, void *descA, CUdeviceptr a, void *descB, CUdeviceptr b,
		cudnnConvolutionDescriptor_t conv, int algo, CUdeviceptr ws, size_t wsSize, float beta, void *descOut, CUdeviceptr out) {
	ENSURE_CTX();
	return ((mg_conv_fn)mg_sym[slot])(h, &alpha, descA, (const void *)a, descB, (const void *)b, conv, algo,
		(void *)ws, wsSize, &beta, descOut, (void *)out);
}
static int mg_cudnnBatchNormalizationForwardTraining(cudnnHandle_t h, int mode, cudnnTensorDescriptor_t xDesc,
		CUdeviceptr x, CUdeviceptr y, cudnnTensorDescriptor_t bnDesc, CUdeviceptr scale, CUdeviceptr bias,
		double eps, CUdeviceptr saveMean, CUdeviceptr saveInvVar) {
	float one = 1, zero = 0;
	ENSURE_CTX();
	// exponentialAverageFactor 0 and null running statistics: the moving
	// averages are updated by our own kernel (Keras' biased variance).
	return CALL(S_cudnnBatchNormalizationForwardTraining,
		int(*)(cudnnHandle_t, int, const void *, const void *, cudnnTensorDescriptor_t, const void *,
			cudnnTensorDescriptor_t, void *, cudnnTensorDescriptor_t, const void *, const void *, double, void *,
			void *, double, void *, void *),
		h, mode, &one, &zero, xDesc, (const void *)x, xDesc, (void *)y, bnDesc, (const void *)scale,
		(const void *)bias, 0.0, NULL, NULL, eps, (void *)saveMean, (void *)saveInvVar);
}
static int mg_cudnnBatchNormalizationBackward(cudnnHandle_t h, int mode, cudnnTensorDescriptor_t xDesc, CUdeviceptr x,
		CUdeviceptr dy, CUdeviceptr dx, cudnnTensorDescriptor_t bnDesc, CUdeviceptr scale, CUdeviceptr dScale,
		CUdeviceptr dBias, double eps, CUdeviceptr savedMean, CUdeviceptr savedInvVar) {
	float one = 1, zero = 0;
	ENSURE_CTX();
	return CALL(S_cudnnBatchNormalizationBackward,
		int(*)(cudnnHandle_t, int, const void *, const void *, const void *, const void *, cudnnTensorDescriptor_t,
			const void *, cudnnTensorDescriptor_t, const void *, cudnnTensorDescriptor_t, void *,
			cudnnTensorDescriptor_t, const void *, void *, void *, double, const void *, const void *),
		h, mode, &one, &zero, &one, &zero, xDesc, (const void *)x, xDesc, (const void *)dy, xDesc, (void *)dx,
		bnDesc, (const void *)scale, (void *)dScale, (void *)dBias, eps, (const void *)savedMean,
		(const void *)savedInvVar);
}

// ---- cuBLAS ----
static int mg_cublasCreate(cublasHandle_t *h) { ENSURE_CTX(); return CALL(S_cublasCreate_v2, int(*)(cublasHandle_t *), h); }
static int mg_cublasDestroy(cublasHandle_t h) { ENSURE_CTX(); return CALL(S_cublasDestroy_v2, int(*)(cublasHandle_t), h); }
static int mg_cublasSetStream(cublasHandle_t h, CUstream s) {
	ENSURE_CTX();
	return CALL(S_cublasSetStream_v2, int(*)(cublasHandle_t, CUstream), h, s);
}
static int mg_cublasGetProperty(int type, int *value) { return CALL(S_cublasGetProperty, int(*)(int, int *), type, value); }
static int mg_cublasSgemm(cublasHandle_t h, int ta, int tb, int m, int n, int k, float alpha, CUdeviceptr a, int lda,
		CUdeviceptr b, int ldb, float beta, CUdeviceptr c, int ldc) {
	ENSURE_CTX();
	return CALL(S_cublasSgemm_v2,
		int(*)(cublasHandle_t, int, int, int, int, int, const float *, const float *, int, const float *, int,
			const float *, float *, int),
		h, ta, tb, m, n, k, &alpha, (const float *)a, lda, (const float *)b, ldb, &beta, (float *)c, ldc);
}
static int mg_cublasSgemv(cublasHandle_t h, int trans, int m, int n, float alpha, CUdeviceptr a, int lda, CUdeviceptr x,
		int incx, float beta, CUdeviceptr y, int incy) {
	ENSURE_CTX();
	return CALL(S_cublasSgemv_v2,
		int(*)(cublasHandle_t, int, int, int, const float *, const float *, int, const float *, int, const float *,
			float *, int),
		h, trans, m, n, &alpha, (const float *)a, lda, (const float *)x, incx, &beta, (float *)y, incy);
}

// ---- NVRTC ----
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
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"
)

// symbols lists, slot by slot (the C enum's order), the functions resolved
// from each library.
var symbols = []struct {
	lib  *Library
	name string
}{
	{&Driver, "cuInit"}, {&Driver, "cuDriverGetVersion"}, {&Driver, "cuDeviceGetCount"}, {&Driver, "cuDeviceGet"},
	{&Driver, "cuDeviceGetName"}, {&Driver, "cuDeviceGetAttribute"}, {&Driver, "cuDeviceTotalMem_v2"},
	{&Driver, "cuDevicePrimaryCtxRetain"}, {&Driver, "cuCtxSetCurrent"},
	{&Driver, "cuStreamCreate"}, {&Driver, "cuStreamSynchronize"}, {&Driver, "cuStreamDestroy_v2"},
	{&Driver, "cuMemAlloc_v2"}, {&Driver, "cuMemFree_v2"}, {&Driver, "cuMemGetInfo_v2"},
	{&Driver, "cuMemcpyHtoDAsync_v2"}, {&Driver, "cuMemcpyDtoHAsync_v2"}, {&Driver, "cuMemcpyDtoDAsync_v2"},
	{&Driver, "cuMemsetD32Async"}, {&Driver, "cuModuleLoadData"}, {&Driver, "cuModuleUnload"},
	{&Driver, "cuModuleGetFunction"}, {&Driver, "cuLaunchKernel"}, {&Driver, "cuGetErrorName"},
	{&Driver, "cuGetErrorString"},

	{&CuDNN, "cudnnGetVersion"}, {&CuDNN, "cudnnGetErrorString"}, {&CuDNN, "cudnnCreate"}, {&CuDNN, "cudnnDestroy"},
	{&CuDNN, "cudnnSetStream"}, {&CuDNN, "cudnnCreateTensorDescriptor"}, {&CuDNN, "cudnnSetTensor4dDescriptor"},
	{&CuDNN, "cudnnDestroyTensorDescriptor"}, {&CuDNN, "cudnnCreateFilterDescriptor"},
	{&CuDNN, "cudnnSetFilter4dDescriptor"}, {&CuDNN, "cudnnDestroyFilterDescriptor"},
	{&CuDNN, "cudnnCreateConvolutionDescriptor"}, {&CuDNN, "cudnnSetConvolution2dDescriptor"},
	{&CuDNN, "cudnnSetConvolutionMathType"}, {&CuDNN, "cudnnDestroyConvolutionDescriptor"},
	{&CuDNN, "cudnnFindConvolutionForwardAlgorithm"}, {&CuDNN, "cudnnFindConvolutionBackwardDataAlgorithm"},
	{&CuDNN, "cudnnFindConvolutionBackwardFilterAlgorithm"}, {&CuDNN, "cudnnConvolutionForward"},
	{&CuDNN, "cudnnConvolutionBackwardData"}, {&CuDNN, "cudnnConvolutionBackwardFilter"},
	{&CuDNN, "cudnnBatchNormalizationForwardTraining"}, {&CuDNN, "cudnnBatchNormalizationBackward"},

	{&CuBLAS, "cublasCreate_v2"}, {&CuBLAS, "cublasDestroy_v2"}, {&CuBLAS, "cublasSetStream_v2"},
	{&CuBLAS, "cublasGetProperty"}, {&CuBLAS, "cublasSgemm_v2"}, {&CuBLAS, "cublasSgemv_v2"},

	{&NVRTC, "nvrtcVersion"}, {&NVRTC, "nvrtcGetErrorString"}, {&NVRTC, "nvrtcGetNumSupportedArchs"},
	{&NVRTC, "nvrtcGetSupportedArchs"}, {&NVRTC, "nvrtcCreateProgram"}, {&NVRTC, "nvrtcCompileProgram"},
	{&NVRTC, "nvrtcGetProgramLogSize"}, {&NVRTC, "nvrtcGetProgramLog"}, {&NVRTC, "nvrtcGetCUBINSize"},
	{&NVRTC, "nvrtcGetCUBIN"}, {&NVRTC, "nvrtcGetPTXSize"}, {&NVRTC, "nvrtcGetPTX"}, {&NVRTC, "nvrtcDestroyProgram"},
}

// Supported reports whether this build can load CUDA (it was built with cgo).
const Supported = true

// symbolSlots is the C enum's length; a test checks it against symbols.
func symbolSlots() int { return int(C.S_COUNT) }

// Loaded says where a library was found, or what was tried.
type Loaded struct {
	Lib   *Library
	Path  string   // the file the loader opened ("" when not found)
	Tried []string // candidates and why each failed, when not found
	Err   error
}

// Load opens lib from its first working candidate and resolves its symbols.
// A library can be loaded once per process; later calls return the first
// result.
func Load(lib *Library) *Loaded {
	loadMu.Lock()
	defer loadMu.Unlock()
	if l, ok := loaded[lib]; ok {
		return l
	}
	l := load(lib, Candidates(lib, OSEnv()))
	loaded[lib] = l
	return l
}

var (
	loadMu sync.Mutex
	loaded = map[*Library]*Loaded{}
)

func load(lib *Library, candidates []string) *Loaded {
	l := &Loaded{Lib: lib}
	for _, path := range candidates {
		dir := filepath.Dir(path)
		if strings.ContainsRune(path, '/') {
			preload(dir, lib.Companions)
		}
		handle, err := dlopen(path)
		if err != nil {
			l.Tried = append(l.Tried, err.Error())
			continue
		}
		first := unsafe.Pointer(nil)
		var missing []string
		for slot, s := range symbols {
			if s.lib != lib {
				continue
			}
			name := C.CString(s.name)
			p := C.dlsym(handle, name)
			C.free(unsafe.Pointer(name))
			if p == nil {
				missing = append(missing, s.name)
				continue
			}
			if first == nil {
				first = p
			}
			C.mg_set_sym(C.int(slot), p)
		}
		if len(missing) > 0 {
			l.Tried = append(l.Tried, fmt.Sprintf("%s: lacks %s (too old a release?)", path, strings.Join(missing, ", ")))
			continue
		}
		l.Path = path
		if origin := C.mg_origin(first); origin != nil {
			l.Path = C.GoString(origin)
		}
		if !strings.ContainsRune(path, '/') {
			preload(filepath.Dir(l.Path), lib.Companions)
		}
		return l
	}
	l.Err = fmt.Errorf("%s not found (looked for %s): %s", lib.Name, strings.Join(lib.Sonames, ", "), lib.Hint)
	return l
}

func dlopen(path string) (unsafe.Pointer, error) {
	p := C.CString(path)
	defer C.free(unsafe.Pointer(p))
	h := C.mg_dlopen(p)
	if h == nil {
		msg := "cannot open"
		if e := C.mg_dlerror(); e != nil {
			msg = C.GoString(e)
		}
		return nil, errors.New(msg)
	}
	return h, nil
}

// preload opens the companions present in dir so that the library's own
// by-name loads find them; failures are ignored (the library reports what
// it then lacks).
func preload(dir string, companions []string) {
	for _, pattern := range companions {
		matches, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, path := range newestFirst(matches) {
			_, _ = dlopen(path)
		}
	}
}

// ---- errors ----

// Error is a failed library call: the call, the library's status code and
// its own name and description of it.
type Error struct {
	Call    string
	Lib     string
	Code    int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s failed: %s (%s status %d)", e.Call, e.Message, e.Lib, e.Code)
}

// OutOfMemory reports whether the call failed for lack of device memory.
func (e *Error) OutOfMemory() bool {
	return strings.Contains(e.Message, "OUT_OF_MEMORY") || strings.Contains(e.Message, "ALLOC")
}

func ctxError(call string) error {
	r := int(C.mg_context_result())
	return &Error{Call: call + " (making the context current: cuCtxSetCurrent)", Lib: "CUDA driver", Code: r, Message: driverMessage(r)}
}

func driverMessage(code int) string {
	name, text := C.mg_cuErrorText(C.int(code), 1), C.mg_cuErrorText(C.int(code), 0)
	switch {
	case name != nil && text != nil:
		return C.GoString(name) + ": " + C.GoString(text)
	case name != nil:
		return C.GoString(name)
	}
	return "unknown error"
}

func checkDriver(call string, r C.int) error {
	switch r {
	case 0:
		return nil
	case C.MG_CTX_FAILED:
		return ctxError(call)
	}
	return &Error{Call: call, Lib: "CUDA driver", Code: int(r), Message: driverMessage(int(r))}
}

func checkCuDNN(call string, r C.int) error {
	switch r {
	case 0:
		return nil
	case C.MG_CTX_FAILED:
		return ctxError(call)
	}
	return &Error{Call: call, Lib: "cuDNN", Code: int(r), Message: C.GoString(C.mg_cudnnGetErrorString(r))}
}

// cublasStatusNames are cublasStatus_t's names (cublas_api.h);
// cublasGetStatusString is missing from older releases.
var cublasStatusNames = map[int]string{
	1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED", 7: "CUBLAS_STATUS_INVALID_VALUE",
	8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
	14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR",
}

func checkCuBLAS(call string, r C.int) error {
	switch r {
	case 0:
		return nil
	case C.MG_CTX_FAILED:
		return ctxError(call)
	}
	msg, ok := cublasStatusNames[int(r)]
	if !ok {
		msg = "unknown status"
	}
	return &Error{Call: call, Lib: "cuBLAS", Code: int(r), Message: msg}
}

func checkNVRTC(call string, r C.int) error {
	if r == 0 {
		return nil
	}
	return &Error{Call: call, Lib: "NVRTC", Code: int(r), Message: C.GoString(C.mg_nvrtcGetErrorString(r))}
}

// ---- driver ----

// Enum values from the API references.
const (
	attrMultiprocessorCount = 16 // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
	attrComputeMajor        = 75 // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
	attrComputeMinor        = 76 // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
)

// Init initialises the driver API (cuInit).
func Init() error { return checkDriver("cuInit", C.mg_cuInit()) }

// DriverVersion is the CUDA version the driver supports, e.g. 12040.
func DriverVersion() (int, error) {
	var v C.int
	err := checkDriver("cuDriverGetVersion", C.mg_cuDriverGetVersion(&v))
	return int(v), err
}

// DeviceCount is the number of visible GPUs.
func DeviceCount() (int, error) {
	var n C.int
	err := checkDriver("cuDeviceGetCount", C.mg_cuDeviceGetCount(&n))
	return int(n), err
}

// DeviceProps describes one GPU.
type DeviceProps struct {
	Ordinal        int
	Name           string
	Major, Minor   int // compute capability
	Memory         uint64
	Multiprocessor int
}

// Device reads the properties of GPU ordinal.
func Device(ordinal int) (DeviceProps, error) {
	p := DeviceProps{Ordinal: ordinal}
	var d C.CUdevice
	if err := checkDriver("cuDeviceGet", C.mg_cuDeviceGet(&d, C.int(ordinal))); err != nil {
		return p, err
	}
	var name [256]C.char
	if err := checkDriver("cuDeviceGetName", C.mg_cuDeviceGetName(&name[0], C.int(len(name)), d)); err != nil {
		return p, err
	}
	p.Name = C.GoString(&name[0])
	for _, a := range []struct {
		attr int
		dst  *int
	}{{attrComputeMajor, &p.Major}, {attrComputeMinor, &p.Minor}, {attrMultiprocessorCount, &p.Multiprocessor}} {
		var v C.int
		if err := checkDriver("cuDeviceGetAttribute", C.mg_cuDeviceGetAttribute(&v, C.int(a.attr), d)); err != nil {
			return p, err
		}
		*a.dst = int(v)
	}
	var mem C.size_t
	err := checkDriver("cuDeviceTotalMem", C.mg_cuDeviceTotalMem(&mem, d))
	p.Memory = uint64(mem)
	return p, err
}

// UsePrimaryContext retains GPU ordinal's primary context, the one the CUDA
// runtime inside cuDNN and cuBLAS also uses, and makes it the context every
// wrapper call runs in. It is retained once per process and never released:
// a primary context destroyed and re-created under a live CUDA runtime (a
// second backend opened after the first was closed) would leave the
// runtime's state stale. The driver frees it at exit.
func UsePrimaryContext(ordinal int) error {
	contextMu.Lock()
	defer contextMu.Unlock()
	if ordinal == contextOrdinal {
		return nil
	}
	if contextOrdinal >= 0 {
		return fmt.Errorf("cuda: GPU %d is in use by this process; cannot switch to GPU %d", contextOrdinal, ordinal)
	}
	var dev C.CUdevice
	if err := checkDriver("cuDeviceGet", C.mg_cuDeviceGet(&dev, C.int(ordinal))); err != nil {
		return err
	}
	var ctx C.CUcontext
	if err := checkDriver("cuDevicePrimaryCtxRetain", C.mg_cuDevicePrimaryCtxRetain(&ctx, dev)); err != nil {
		return err
	}
	C.mg_set_context(ctx)
	contextOrdinal = ordinal
	return nil
}

var (
	contextMu      sync.Mutex
	contextOrdinal = -1
)

// MemInfo reports free and total device memory in bytes.
func MemInfo() (free, total uint64, err error) {
	var f, t C.size_t
	err = checkDriver("cuMemGetInfo", C.mg_cuMemGetInfo(&f, &t))
	return uint64(f), uint64(t), err
}

// DevicePtr is a device address.
type DevicePtr uint64

// MemAlloc allocates bytes of device memory.
func MemAlloc(bytes int) (DevicePtr, error) {
	var p C.CUdeviceptr
	err := checkDriver(fmt.Sprintf("cuMemAlloc(%d bytes)", bytes), C.mg_cuMemAlloc(&p, C.size_t(bytes)))
	return DevicePtr(p), err
}

// MemFree frees what MemAlloc returned.
func MemFree(p DevicePtr) error { return checkDriver("cuMemFree", C.mg_cuMemFree(C.CUdeviceptr(p))) }

// Stream is a CUDA stream: work queued on it runs in order.
type Stream struct{ s C.CUstream }

func NewStream() (*Stream, error) {
	s := &Stream{}
	if err := checkDriver("cuStreamCreate", C.mg_cuStreamCreate(&s.s)); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Stream) Synchronize() error {
	return checkDriver("cuStreamSynchronize", C.mg_cuStreamSynchronize(s.s))
}

func (s *Stream) Destroy() error { return checkDriver("cuStreamDestroy", C.mg_cuStreamDestroy(s.s)) }

// CopyToDevice copies host bytes to the device and waits for the copy: the
// Go memory must not be read after the call returns.
func (s *Stream) CopyToDevice(dst DevicePtr, src unsafe.Pointer, bytes int) error {
	if bytes == 0 {
		return nil
	}
	if err := checkDriver("cuMemcpyHtoDAsync", C.mg_cuMemcpyHtoDAsync(C.CUdeviceptr(dst), src, C.size_t(bytes), s.s)); err != nil {
		return err
	}
	return s.Synchronize()
}

// CopyToHost copies device bytes to host memory, waiting for queued work.
func (s *Stream) CopyToHost(dst unsafe.Pointer, src DevicePtr, bytes int) error {
	if bytes == 0 {
		return s.Synchronize()
	}
	if err := checkDriver("cuMemcpyDtoHAsync", C.mg_cuMemcpyDtoHAsync(dst, C.CUdeviceptr(src), C.size_t(bytes), s.s)); err != nil {
		return err
	}
	return s.Synchronize()
}

// CopyDevice queues a device-to-device copy.
func (s *Stream) CopyDevice(dst, src DevicePtr, bytes int) error {
	return checkDriver("cuMemcpyDtoDAsync", C.mg_cuMemcpyDtoDAsync(C.CUdeviceptr(dst), C.CUdeviceptr(src), C.size_t(bytes), s.s))
}

// Memset32 queues setting n 32-bit words to value.
func (s *Stream) Memset32(dst DevicePtr, value uint32, n int) error {
	return checkDriver("cuMemsetD32Async", C.mg_cuMemsetD32Async(C.CUdeviceptr(dst), C.uint(value), C.size_t(n), s.s))
}

// Module is a loaded CUBIN or PTX image.
type Module struct{ m C.CUmodule }

// LoadModule loads a compiled image (CUBIN, or PTX the driver compiles).
func LoadModule(image []byte) (*Module, error) {
	m := &Module{}
	// PTX must end in a NUL byte; a CUBIN is read by its own header.
	buf := C.CBytes(append(image, 0))
	defer C.free(buf)
	if err := checkDriver("cuModuleLoadData", C.mg_cuModuleLoadData(&m.m, buf)); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Module) Unload() error { return checkDriver("cuModuleUnload", C.mg_cuModuleUnload(m.m)) }

// Function is a kernel in a loaded module.
type Function struct {
	f    C.CUfunction
	Name string
}

func (m *Module) Function(name string) (Function, error) {
	f := Function{Name: name}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	err := checkDriver("cuModuleGetFunction("+name+")", C.mg_cuModuleGetFunction(&f.f, m.m, cname))
	return f, err
}

// Args packs kernel arguments by value into one buffer, each at its natural
// alignment, in the order of the kernel's parameters. Reset it before each
// launch; it does not allocate.
type Args struct {
	buf  [256]byte
	off  [32]C.int
	n    int
	size int
	err  error
}

func (a *Args) Reset() { a.n, a.size, a.err = 0, 0, nil }

func (a *Args) put(bytes int, write func([]byte)) *Args {
	at := (a.size + bytes - 1) / bytes * bytes
	if a.n == len(a.off) || at+bytes > len(a.buf) {
		a.err = errors.New("too many kernel arguments")
		return a
	}
	write(a.buf[at : at+bytes])
	a.off[a.n] = C.int(at)
	a.n++
	a.size = at + bytes
	return a
}

// Ptr adds a device pointer argument (0 is a null pointer).
func (a *Args) Ptr(p DevicePtr) *Args { return a.Int64(int64(p)) }

func (a *Args) Int64(v int64) *Args {
	return a.put(8, func(b []byte) { *(*int64)(unsafe.Pointer(&b[0])) = v })
}

func (a *Args) Int(v int) *Args {
	return a.put(4, func(b []byte) { *(*int32)(unsafe.Pointer(&b[0])) = int32(v) })
}

func (a *Args) Float(v float32) *Args {
	return a.put(4, func(b []byte) { *(*float32)(unsafe.Pointer(&b[0])) = v })
}

// Launch queues f on a grid of blocks of threads (one dimension each).
func (s *Stream) Launch(f Function, blocks, threads int, a *Args) error {
	if a.err != nil {
		return fmt.Errorf("cuLaunchKernel(%s): %w", f.Name, a.err)
	}
	// The call's name is built only on failure: launches are the hot path.
	r := C.mg_cuLaunchKernel(f.f, C.uint(blocks), 1, 1, C.uint(threads), 1, 1, 0, s.s,
		(*C.char)(unsafe.Pointer(&a.buf[0])), &a.off[0], C.int(a.n))
	if r == 0 {
		return nil
	}
	return checkDriver("cuLaunchKernel("+f.Name+")", r)
}

// ---- cuDNN ----

const (
	TensorNCHW          = 0 // CUDNN_TENSOR_NCHW
	TensorNHWC          = 1 // CUDNN_TENSOR_NHWC
	dataFloat           = 0 // CUDNN_DATA_FLOAT
	crossCorrelation    = 1 // CUDNN_CROSS_CORRELATION
	BatchNormSpatial    = 1 // CUDNN_BATCHNORM_SPATIAL
	MathDefault         = 0 // CUDNN_DEFAULT_MATH: TF32 tensor cores allowed on Ampere and later
	MathFMA             = 3 // CUDNN_FMA_MATH: plain FP32 only
	requestedAlgorithms = 8
)

// CuDNNVersion is cudnnGetVersion(), e.g. 90100 for 9.1.0.
func CuDNNVersion() int { return int(C.mg_cudnnGetVersion()) }

// DNN is a cuDNN handle bound to a stream.
type DNN struct{ h C.cudnnHandle_t }

func NewDNN(s *Stream) (*DNN, error) {
	d := &DNN{}
	if err := checkCuDNN("cudnnCreate", C.mg_cudnnCreate(&d.h)); err != nil {
		return nil, err
	}
	if err := checkCuDNN("cudnnSetStream", C.mg_cudnnSetStream(d.h, s.s)); err != nil {
		_ = d.Destroy()
		return nil, err
	}
	return d, nil
}

func (d *DNN) Destroy() error { return checkCuDNN("cudnnDestroy", C.mg_cudnnDestroy(d.h)) }

// TensorDesc is a 4-d float tensor descriptor.
type TensorDesc struct{ d C.cudnnTensorDescriptor_t }

// NewTensorDesc describes a float tensor of dimensions n, c, h, w stored in
// format (TensorNCHW or TensorNHWC).
func NewTensorDesc(format, n, c, h, w int) (*TensorDesc, error) {
	t := &TensorDesc{}
	if err := checkCuDNN("cudnnCreateTensorDescriptor", C.mg_cudnnCreateTensorDescriptor(&t.d)); err != nil {
		return nil, err
	}
	call := fmt.Sprintf("cudnnSetTensor4dDescriptor(n=%d c=%d h=%d w=%d)", n, c, h, w)
	if err := checkCuDNN(call, C.mg_cudnnSetTensor4dDescriptor(t.d, C.int(format), dataFloat, C.int(n), C.int(c), C.int(h), C.int(w))); err != nil {
		_ = t.Destroy()
		return nil, err
	}
	return t, nil
}

func (t *TensorDesc) Destroy() error {
	return checkCuDNN("cudnnDestroyTensorDescriptor", C.mg_cudnnDestroyTensorDescriptor(t.d))
}

// FilterDesc is a 4-d float filter descriptor: k output channels, c input
// channels, h x w window; TensorNHWC stores it as (k, h, w, c).
type FilterDesc struct{ d C.cudnnFilterDescriptor_t }

func NewFilterDesc(format, k, c, h, w int) (*FilterDesc, error) {
	f := &FilterDesc{}
	if err := checkCuDNN("cudnnCreateFilterDescriptor", C.mg_cudnnCreateFilterDescriptor(&f.d)); err != nil {
		return nil, err
	}
	call := fmt.Sprintf("cudnnSetFilter4dDescriptor(k=%d c=%d h=%d w=%d)", k, c, h, w)
	if err := checkCuDNN(call, C.mg_cudnnSetFilter4dDescriptor(f.d, dataFloat, C.int(format), C.int(k), C.int(c), C.int(h), C.int(w))); err != nil {
		_ = f.Destroy()
		return nil, err
	}
	return f, nil
}

func (f *FilterDesc) Destroy() error {
	return checkCuDNN("cudnnDestroyFilterDescriptor", C.mg_cudnnDestroyFilterDescriptor(f.d))
}

// ConvDesc describes a stride-1 cross-correlation (what Keras calls a
// convolution) with pad zero pixels on each side, computed in float.
type ConvDesc struct {
	d C.cudnnConvolutionDescriptor_t
}

func NewConvDesc(pad int) (*ConvDesc, error) {
	c := &ConvDesc{}
	if err := checkCuDNN("cudnnCreateConvolutionDescriptor", C.mg_cudnnCreateConvolutionDescriptor(&c.d)); err != nil {
		return nil, err
	}
	if err := checkCuDNN("cudnnSetConvolution2dDescriptor", C.mg_cudnnSetConvolution2dDescriptor(c.d, C.int(pad), C.int(pad), 1, 1, 1, 1, crossCorrelation, dataFloat)); err != nil {
		_ = c.Destroy()
		return nil, err
	}
	return c, nil
}

// SetMathType chooses whether tensor cores (TF32) may be used.
func (c *ConvDesc) SetMathType(math int) error {
	return checkCuDNN("cudnnSetConvolutionMathType", C.mg_cudnnSetConvolutionMathType(c.d, C.int(math)))
}

func (c *ConvDesc) Destroy() error {
	return checkCuDNN("cudnnDestroyConvolutionDescriptor", C.mg_cudnnDestroyConvolutionDescriptor(c.d))
}

// AlgoPerf is one result of a Find*Algorithm call.
type AlgoPerf struct {
	Algo     int
	Time     float32 // milliseconds
	Memory   uint64  // workspace bytes
	MathType int
}

// ConvPass names the three convolution computations.
type ConvPass int

const (
	Forward ConvPass = iota
	BackwardData
	BackwardFilter
)

var convCalls = [...]struct {
	find, run         string
	findSlot, runSlot int
}{
	Forward:        {"cudnnFindConvolutionForwardAlgorithm", "cudnnConvolutionForward", C.S_cudnnFindConvolutionForwardAlgorithm, C.S_cudnnConvolutionForward},
	BackwardData:   {"cudnnFindConvolutionBackwardDataAlgorithm", "cudnnConvolutionBackwardData", C.S_cudnnFindConvolutionBackwardDataAlgorithm, C.S_cudnnConvolutionBackwardData},
	BackwardFilter: {"cudnnFindConvolutionBackwardFilterAlgorithm", "cudnnConvolutionBackwardFilter", C.S_cudnnFindConvolutionBackwardFilterAlgorithm, C.S_cudnnConvolutionBackwardFilter},
}

// ConvShape holds the descriptors of one convolution.
type ConvShape struct {
	X, Y *TensorDesc // input and output (their gradients share them)
	W    *FilterDesc
	Conv *ConvDesc
}

// operands orders the descriptors as each pass's cuDNN calls take them:
// forward (x, w -> y), backward data (w, dy -> dx), backward filter
// (x, dy -> dw).
func (s ConvShape) operands(pass ConvPass) (a, b, out unsafe.Pointer) {
	x, y, w := unsafe.Pointer(s.X.d), unsafe.Pointer(s.Y.d), unsafe.Pointer(s.W.d)
	switch pass {
	case Forward:
		return x, w, y
	case BackwardData:
		return w, y, x
	}
	return x, y, w
}

// Find benchmarks the algorithms cuDNN offers for one pass of shape and
// returns those that ran, fastest first.
func (d *DNN) Find(pass ConvPass, shape ConvShape) ([]AlgoPerf, error) {
	var perf [requestedAlgorithms]C.mg_algo_perf
	var n C.int
	a, b, out := shape.operands(pass)
	call := convCalls[pass]
	if err := checkCuDNN(call.find, C.mg_cudnnFind(C.int(call.findSlot), d.h, a, b, shape.Conv.d, out, requestedAlgorithms, &n, &perf[0])); err != nil {
		return nil, err
	}
	var ran []AlgoPerf
	for _, p := range perf[:n] {
		if p.status == 0 {
			ran = append(ran, AlgoPerf{Algo: int(p.algo), Time: float32(p.time), Memory: uint64(p.memory), MathType: int(p.mathType)})
		}
	}
	if len(ran) == 0 {
		return nil, &Error{Call: call.find, Lib: "cuDNN", Message: "no algorithm supports this convolution"}
	}
	return ran, nil
}

// Conv queues one pass of shape with algorithm algo:
// forward y = conv(x, w); backward data dx = convT(dy, w); backward filter
// dw = corr(x, dy). a and b are the pass's inputs in that order, out its output.
func (d *DNN) Conv(pass ConvPass, shape ConvShape, algo int, a, b, out, workspace DevicePtr, workspaceBytes uint64) error {
	da, db, dout := shape.operands(pass)
	call := convCalls[pass]
	return checkCuDNN(call.run, C.mg_cudnnConv(C.int(call.runSlot), d.h, 1, da, C.CUdeviceptr(a), db, C.CUdeviceptr(b), shape.Conv.d,
		C.int(algo), C.CUdeviceptr(workspace), C.size_t(workspaceBytes), 0, dout, C.CUdeviceptr(out)))
}

// BatchNormTrain queues spatial batch norm in training mode over x
// (described by xDesc) into y, saving the batch mean and 1/sqrt(var+eps).
// cuDNN's running averages are not used.
func (d *DNN) BatchNormTrain(xDesc, bnDesc *TensorDesc, x, y, scale, bias DevicePtr, eps float64, saveMean, saveInvStd DevicePtr) error {
	return checkCuDNN("cudnnBatchNormalizationForwardTraining", C.mg_cudnnBatchNormalizationForwardTraining(d.h, BatchNormSpatial,
		xDesc.d, C.CUdeviceptr(x), C.CUdeviceptr(y), bnDesc.d, C.CUdeviceptr(scale), C.CUdeviceptr(bias), C.double(eps),
		C.CUdeviceptr(saveMean), C.CUdeviceptr(saveInvStd)))
}

// BatchNormBackward queues the batch norm gradients: dx, and dscale, dbias
// overwritten.
func (d *DNN) BatchNormBackward(xDesc, bnDesc *TensorDesc, x, dy, dx, scale, dscale, dbias DevicePtr, eps float64, saveMean, saveInvStd DevicePtr) error {
	return checkCuDNN("cudnnBatchNormalizationBackward", C.mg_cudnnBatchNormalizationBackward(d.h, BatchNormSpatial,
		xDesc.d, C.CUdeviceptr(x), C.CUdeviceptr(dy), C.CUdeviceptr(dx), bnDesc.d, C.CUdeviceptr(scale), C.CUdeviceptr(dscale),
		C.CUdeviceptr(dbias), C.double(eps), C.CUdeviceptr(saveMean), C.CUdeviceptr(saveInvStd)))
}

// ---- cuBLAS ----

// CuBLASVersion reads cuBLAS's major.minor.patch (cublasGetProperty).
func CuBLASVersion() (string, error) {
	var v [3]C.int
	for i := range v { // MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
		if err := checkCuBLAS("cublasGetProperty", C.mg_cublasGetProperty(C.int(i), &v[i])); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]), nil
}

// BLAS is a cuBLAS handle bound to a stream (column-major, host scalars).
type BLAS struct{ h C.cublasHandle_t }

func NewBLAS(s *Stream) (*BLAS, error) {
	b := &BLAS{}
	if err := checkCuBLAS("cublasCreate", C.mg_cublasCreate(&b.h)); err != nil {
		return nil, err
	}
	if err := checkCuBLAS("cublasSetStream", C.mg_cublasSetStream(b.h, s.s)); err != nil {
		_ = b.Destroy()
		return nil, err
	}
	return b, nil
}

func (b *BLAS) Destroy() error { return checkCuBLAS("cublasDestroy", C.mg_cublasDestroy(b.h)) }

func op(transpose bool) C.int {
	if transpose {
		return 1 // CUBLAS_OP_T
	}
	return 0 // CUBLAS_OP_N
}

// Sgemm queues C = alpha op(A) op(B) + beta C in column-major order.
func (b *BLAS) Sgemm(transA, transB bool, m, n, k int, alpha float32, A DevicePtr, lda int, B DevicePtr, ldb int, beta float32, Cm DevicePtr, ldc int) error {
	r := C.mg_cublasSgemm(b.h, op(transA), op(transB), C.int(m), C.int(n), C.int(k),
		C.float(alpha), C.CUdeviceptr(A), C.int(lda), C.CUdeviceptr(B), C.int(ldb), C.float(beta), C.CUdeviceptr(Cm), C.int(ldc))
	if r == 0 {
		return nil // no call name formatted on the hot path
	}
	return checkCuBLAS(fmt.Sprintf("cublasSgemm(m=%d n=%d k=%d)", m, n, k), r)
}

// Sgemv queues y = alpha op(A) x + beta y in column-major order.
func (b *BLAS) Sgemv(trans bool, m, n int, alpha float32, A DevicePtr, lda int, x DevicePtr, beta float32, y DevicePtr) error {
	r := C.mg_cublasSgemv(b.h, op(trans), C.int(m), C.int(n), C.float(alpha),
		C.CUdeviceptr(A), C.int(lda), C.CUdeviceptr(x), 1, C.float(beta), C.CUdeviceptr(y), 1)
	if r == 0 {
		return nil
	}
	return checkCuBLAS(fmt.Sprintf("cublasSgemv(m=%d n=%d)", m, n), r)
}

// ---- NVRTC ----

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

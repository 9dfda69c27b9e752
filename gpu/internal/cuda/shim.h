// Shared by the cgo preambles of this package (one per library) and shim.c:
// the types, the symbol slots made from symbols.h, and the calling and
// context machinery of the wrappers. No CUDA header is needed.
#ifndef MNISTGPU_SHIM_H
#define MNISTGPU_SHIM_H

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

// The libraries the symbols come from (symbols.h's first column).
enum { MG_DRIVER, MG_CUDNN, MG_CUBLAS, MG_NVRTC };

// Symbol slots, one per line of symbols.h, in its order.
enum {
#define MG_SYMBOL(lib, name) S_##name,
#include "symbols.h"
#undef MG_SYMBOL
	S_COUNT
};

// The resolved functions (NULL until loaded), and for each slot its name
// and library: defined in shim.c from the same list.
extern void *mg_sym[S_COUNT];
extern const char *const mg_sym_name[S_COUNT];
extern const int mg_sym_lib[S_COUNT];

void mg_set_sym(int slot, void *p);
void *mg_dlopen(const char *path);
const char *mg_dlerror(void);
void *mg_dlsym(void *handle, const char *name);
const char *mg_origin(void *sym);

// The driver API keeps a current context per OS thread, and Go moves
// goroutines between threads: every wrapper that needs one makes the
// backend's context current on the calling thread first (a thread-local
// compare when it is). A failure to do so is reported as MG_CTX_FAILED with
// the driver's code in mg_ctx_result: a plain global, since the Go side
// reads it in a later cgo call that may run on another thread (it only
// feeds the error message).
#define MG_CTX_FAILED (-1)
extern CUcontext mg_ctx;
extern __thread CUcontext mg_thread_ctx;
extern int mg_ctx_result;

void mg_set_context(CUcontext ctx);
int mg_context_result(void);

#define ENSURE_CTX()                                                                    \
	do {                                                                                \
		if (mg_ctx != NULL && mg_thread_ctx != mg_ctx) {                                \
			int r_ = ((CUresult(*)(CUcontext))mg_sym[S_cuCtxSetCurrent])(mg_ctx);       \
			if (r_ != 0) { mg_ctx_result = r_; return MG_CTX_FAILED; }                  \
			mg_thread_ctx = mg_ctx;                                                     \
		}                                                                               \
	} while (0)

// CALL calls the function in slot as type: each wrapper names its own slot.
#define CALL(slot, type, ...) (((type)mg_sym[slot])(__VA_ARGS__))

#endif

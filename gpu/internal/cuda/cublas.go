//go:build cgo

package cuda

/*
// cuBLAS (libcublas.so.13 or .12, cublas_api.h): handle, stream, SGEMM and
// SGEMV with host scalars; status code out.
#include "shim.h"

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
*/
import "C"

import "fmt"

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

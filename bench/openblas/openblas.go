//go:build openblas

// Package openblas calls OpenBLAS's cblas_sgemm: the yardstick the CPU
// backend's GEMM is measured against (`make bench-cpu`). Nothing in the
// product imports it; it builds only with -tags openblas, on a machine with
// OpenBLAS's headers and library (Debian: libopenblas-dev).
package openblas

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import "fmt"

// SetThreads sets OpenBLAS's thread count.
func SetThreads(n int) { C.openblas_set_num_threads(C.int(n)) }

// Config is OpenBLAS's build description (version, kernel core, threading).
func Config() string { return C.GoString(C.openblas_get_config()) }

// Sgemm computes c = a·b + beta·c for row-major matrices: a is m×k (stored
// k×m when transA), b is k×n (stored n×k when transB), c is m×n — the
// contract of the CPU backend's gemm.
func Sgemm(transA, transB bool, m, n, k int, a, b []float32, beta float32, c []float32) {
	if len(a) < m*k || len(b) < k*n || len(c) < m*n {
		panic(fmt.Sprintf("openblas: %dx%dx%d with slices of %d, %d, %d", m, n, k, len(a), len(b), len(c)))
	}
	ta, lda := C.CblasNoTrans, k
	if transA {
		ta, lda = C.CblasTrans, m
	}
	tb, ldb := C.CblasNoTrans, n
	if transB {
		tb, ldb = C.CblasTrans, k
	}
	C.cblas_sgemm(C.CblasRowMajor, uint32(ta), uint32(tb), C.blasint(m), C.blasint(n), C.blasint(k),
		1, (*C.float)(&a[0]), C.blasint(lda), (*C.float)(&b[0]), C.blasint(ldb),
		C.float(beta), (*C.float)(&c[0]), C.blasint(n))
}

package cpu

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// gemm computes c = a·b + beta·c for row-major matrices, with a (m×k) or,
// when transA, a stored as (k×m); b (k×n) or, when transB, stored (n×k).
// It is the one place the CPU backend multiplies matrices, so the kernel
// behind it can be swapped (the CPU speed issue) without touching the ops.
// gonum's float32 GEMM is blocked and parallel across GOMAXPROCS.
func gemm(transA, transB bool, m, n, k int, a, b []float32, beta float32, c []float32) {
	ta, lda := blas.NoTrans, k
	if transA {
		ta, lda = blas.Trans, m
	}
	tb, ldb := blas.NoTrans, n
	if transB {
		tb, ldb = blas.Trans, k
	}
	gonum.Implementation{}.Sgemm(ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, n)
}

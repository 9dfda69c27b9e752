//go:build cgo

package gpu

import "github.com/mnistgpu/mnistgpu/internal/backend"

// cuBLAS is column-major: a row-major (r, c) matrix is its column-major
// (c, r) transpose with leading dimension c, so y = x w (row-major) is
// y^T = w^T x^T (column-major) with no transposition flags.

func (b *Backend) denseShape(op string, y, x, w backend.Tensor) (n, in, out int, ok bool) {
	xs, ws, ys := x.Shape(), w.Shape(), y.Shape()
	if len(xs) != 2 || len(ws) != 2 || len(ys) != 2 || xs[1] != ws[0] || ys[0] != xs[0] || ys[1] != ws[1] {
		b.failf("%s: x %v, w %v, y %v do not fit", op, xs, ws, ys)
		return 0, 0, 0, false
	}
	return xs[0], ws[0], ws[1], b.err == nil
}

func (b *Backend) Dense(y, x, w, bias backend.Tensor) {
	n, in, out, ok := b.denseShape("dense", y, x, w)
	if !ok || !b.sameLen("dense bias", out, bias) {
		return
	}
	b.fail(b.blas.Sgemm(false, false, out, n, in, 1, ptr(w), out, ptr(x), in, 0, ptr(y), out))
	b.addBias(y, bias)
}

func (b *Backend) DenseBackward(dx, dw, db, dy, x, w backend.Tensor) {
	n, in, out, ok := b.denseShape("dense backward", dy, x, w)
	if !ok || !b.sameLen("dense backward", out, db) || !b.sameLen("dense backward dw", w.Len(), dw) ||
		(dx != nil && !b.sameLen("dense backward dx", x.Len(), dx)) {
		return
	}
	// dw = x^T dy, i.e. dw^T (out, in) = dy^T (out, n) · x (n, in).
	b.fail(b.blas.Sgemm(false, true, out, in, n, 1, ptr(dy), out, ptr(x), in, 0, ptr(dw), out))
	b.channelSums(db, dy)
	if dx != nil {
		// dx = dy w^T, i.e. dx^T (in, n) = w (in, out) · dy^T (out, n).
		b.fail(b.blas.Sgemm(true, false, in, n, out, 1, ptr(w), out, ptr(dy), out, 0, ptr(dx), in))
	}
}

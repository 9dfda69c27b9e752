package cpu

import "github.com/mnistgpu/mnistgpu/internal/backend"

func (c *Backend) denseShape(op string, y, x, w backend.Tensor) (n, in, out int, ok bool) {
	xs, ws, ys := x.Shape(), w.Shape(), y.Shape()
	if len(xs) != 2 || len(ws) != 2 || len(ys) != 2 || xs[1] != ws[0] || ys[0] != xs[0] || ys[1] != ws[1] {
		c.fail("%s: shapes x %v, w %v, y %v do not fit (N In, In Out, N Out)", op, xs, ws, ys)
		return 0, 0, 0, false
	}
	return xs[0], xs[1], ws[1], true
}

func (c *Backend) Dense(y, x, w, b backend.Tensor) {
	n, in, out, ok := c.denseShape("dense", y, x, w)
	if !ok || !c.sameLen("dense bias", out, b) {
		return
	}
	ys := f32(y)
	c.broadcastRows(ys, f32(b))
	c.gemm(false, false, n, out, in, f32(x), f32(w), 1, ys)
}

func (c *Backend) DenseBackward(dx, dw, db, dy, x, w backend.Tensor) {
	n, in, out, ok := c.denseShape("dense backward", dy, x, w)
	if !ok || !c.sameLen("dense backward", out, db) || !c.sameLen("dense backward", w.Len(), dw) {
		return
	}
	dys := f32(dy)
	c.columnSums(f32(db), dys, out)
	c.gemm(true, false, in, out, n, f32(x), dys, 0, f32(dw))
	if dx != nil {
		if !c.sameLen("dense backward dx", x.Len(), dx) {
			return
		}
		c.gemm(false, true, n, in, out, dys, f32(w), 0, f32(dx))
	}
}

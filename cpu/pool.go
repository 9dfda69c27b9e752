package cpu

import "github.com/mnistgpu/mnistgpu/internal/backend"

// poolWork holds the max pool's loops.
type poolWork struct {
	forward  maxPoolTask
	backward maxPoolBackwardTask
}

func (c *Backend) poolShape(op string, x, y backend.Tensor) (n, h, w, ch int, ok bool) {
	xs, ys := x.Shape(), y.Shape()
	if len(xs) != 4 || len(ys) != 4 || ys[0] != xs[0] || ys[1] != xs[1]/2 || ys[2] != xs[2]/2 || ys[3] != xs[3] {
		c.fail("%s: x %v and y %v are not a 2x2 pooling pair", op, xs, ys)
		return 0, 0, 0, 0, false
	}
	return xs[0], xs[1], xs[2], xs[3], true
}

// maxPoolTask: items are (image, output row) pairs.
type maxPoolTask struct {
	y, x     []float32
	h, w, ch int
}

func (t *maxPoolTask) run(_, lo, hi int) {
	h, w, ch := t.h, t.w, t.ch
	oh, ow := h/2, w/2
	for r := lo; r < hi; r++ {
		img, oy := r/oh, r%oh
		top := ((img*h + 2*oy) * w) * ch
		maxPoolRow(t.y[(img*oh+oy)*ow*ch:], t.x[top:], t.x[top+w*ch:], ow, ch)
	}
}

func (c *Backend) MaxPool2x2(y, x backend.Tensor) {
	n, h, w, ch, ok := c.poolShape("maxpool", x, y)
	if !ok {
		return
	}
	c.poolWork.forward = maxPoolTask{f32(y), f32(x), h, w, ch}
	c.pool.dynamic(n*(h/2), 16, &c.poolWork.forward)
}

// maxPoolBackwardTask: items are images, so each worker writes only its
// own part of dx (see maxPoolBackwardRowGo for which element gets dy).
type maxPoolBackwardTask struct {
	dx, dy, x []float32
	h, w, ch  int
}

func (t *maxPoolBackwardTask) run(_, lo, hi int) {
	h, w, ch := t.h, t.w, t.ch
	oh, ow := h/2, w/2
	if h%2 != 0 || w%2 != 0 {
		clear(t.dx[lo*h*w*ch : hi*h*w*ch]) // the row or column no window covers
	}
	for img := lo; img < hi; img++ {
		for oy := 0; oy < oh; oy++ {
			top := ((img*h + 2*oy) * w) * ch
			maxPoolBackwardRow(t.dx[top:], t.dx[top+w*ch:], t.dy[(img*oh+oy)*ow*ch:], t.x[top:], t.x[top+w*ch:], ow, ch)
		}
	}
}

func (c *Backend) MaxPool2x2Backward(dx, dy, x, y backend.Tensor) {
	n, h, w, ch, ok := c.poolShape("maxpool backward", x, dy)
	if !ok || !c.sameLen("maxpool backward", x.Len(), dx) || !c.sameLen("maxpool backward y", dy.Len(), y) {
		return
	}
	c.poolWork.backward = maxPoolBackwardTask{f32(dx), f32(dy), f32(x), h, w, ch}
	c.pool.dynamic(n, 2, &c.poolWork.backward)
}

package cpu

import "github.com/mnistgpu/mnistgpu/internal/backend"

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
		for ox := 0; ox < ow; ox++ {
			out := t.y[((img*oh+oy)*ow+ox)*ch:][:ch]
			topLeft := t.x[((img*h+2*oy)*w+2*ox)*ch:][:ch]
			topRight := t.x[((img*h+2*oy)*w+2*ox+1)*ch:][:ch]
			bottomLeft := t.x[((img*h+2*oy+1)*w+2*ox)*ch:][:ch]
			bottomRight := t.x[((img*h+2*oy+1)*w+2*ox+1)*ch:][:ch]
			for j := range out {
				out[j] = max(topLeft[j], topRight[j], bottomLeft[j], bottomRight[j])
			}
		}
	}
}

func (c *Backend) MaxPool2x2(y, x backend.Tensor) {
	n, h, w, ch, ok := c.poolShape("maxpool", x, y)
	if !ok {
		return
	}
	c.tasks.maxPool = maxPoolTask{f32(y), f32(x), h, w, ch}
	c.pool.parallel(n*(h/2), 4, &c.tasks.maxPool)
}

// maxPoolBackwardTask finds each window's first maximum again (in the order
// top-left, top-right, bottom-left, bottom-right) rather than storing
// indices, which keeps the op's inputs the same on every backend. Items are
// images, so each worker clears and writes only its own part of dx.
type maxPoolBackwardTask struct {
	dx, dy, x []float32
	h, w, ch  int
}

func (t *maxPoolBackwardTask) run(_, lo, hi int) {
	h, w, ch := t.h, t.w, t.ch
	oh, ow := h/2, w/2
	clear(t.dx[lo*h*w*ch : hi*h*w*ch])
	for img := lo; img < hi; img++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				g := t.dy[((img*oh+oy)*ow+ox)*ch:][:ch]
				top := ((img*h+2*oy)*w + 2*ox) * ch
				bottom := top + w*ch
				x00, x01 := t.x[top:top+ch], t.x[top+ch:top+2*ch]
				x10, x11 := t.x[bottom:bottom+ch], t.x[bottom+ch:bottom+2*ch]
				d00, d01 := t.dx[top:top+ch], t.dx[top+ch:top+2*ch]
				d10, d11 := t.dx[bottom:bottom+ch], t.dx[bottom+ch:bottom+2*ch]
				for j, gj := range g {
					// The first maximum in the order top-left, top-right,
					// bottom-left, bottom-right takes the gradient.
					best, at := x00[j], 0
					if x01[j] > best {
						best, at = x01[j], 1
					}
					if x10[j] > best {
						best, at = x10[j], 2
					}
					if x11[j] > best {
						at = 3
					}
					switch at {
					case 0:
						d00[j] = gj
					case 1:
						d01[j] = gj
					case 2:
						d10[j] = gj
					default:
						d11[j] = gj
					}
				}
			}
		}
	}
}

func (c *Backend) MaxPool2x2Backward(dx, dy, x, y backend.Tensor) {
	n, h, w, ch, ok := c.poolShape("maxpool backward", x, dy)
	if !ok || !c.sameLen("maxpool backward", x.Len(), dx) || !c.sameLen("maxpool backward y", dy.Len(), y) {
		return
	}
	c.tasks.maxPoolBackward = maxPoolBackwardTask{f32(dx), f32(dy), f32(x), h, w, ch}
	c.pool.parallel(n, 1, &c.tasks.maxPoolBackward)
}

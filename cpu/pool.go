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

func (c *Backend) MaxPool2x2(y, x backend.Tensor) {
	n, h, w, ch, ok := c.poolShape("maxpool", x, y)
	if !ok {
		return
	}
	xs, ys := f32(x), f32(y)
	oh, ow := h/2, w/2
	parallelFor(n*oh, 4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			img, oy := r/oh, r%oh
			for ox := 0; ox < ow; ox++ {
				out := ys[((img*oh+oy)*ow+ox)*ch:][:ch]
				for j := range out {
					out[j] = xs[((img*h+2*oy)*w+2*ox)*ch+j]
				}
				for _, d := range [3][2]int{{0, 1}, {1, 0}, {1, 1}} {
					in := xs[((img*h+2*oy+d[0])*w+2*ox+d[1])*ch:][:ch]
					for j, v := range in {
						out[j] = max(out[j], v)
					}
				}
			}
		}
	})
}

// MaxPool2x2Backward finds each window's first maximum again (in the order
// top-left, top-right, bottom-left, bottom-right) rather than storing indices,
// which keeps the op's inputs the same on every backend.
func (c *Backend) MaxPool2x2Backward(dx, dy, x backend.Tensor) {
	n, h, w, ch, ok := c.poolShape("maxpool backward", x, dy)
	if !ok || !c.sameLen("maxpool backward", x.Len(), dx) {
		return
	}
	xs, dys, dxs := f32(x), f32(dy), f32(dx)
	oh, ow := h/2, w/2
	parallelFor(n, 1, func(lo, hi int) {
		clear(dxs[lo*h*w*ch : hi*h*w*ch])
		for img := lo; img < hi; img++ {
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					g := dys[((img*oh+oy)*ow+ox)*ch:][:ch]
					for j := range g {
						best := ((img*h+2*oy)*w+2*ox)*ch + j
						for _, d := range [3][2]int{{0, 1}, {1, 0}, {1, 1}} {
							at := ((img*h+2*oy+d[0])*w+2*ox+d[1])*ch + j
							if xs[at] > xs[best] {
								best = at
							}
						}
						dxs[best] += g[j]
					}
				}
			}
		}
	})
}

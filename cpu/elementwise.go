package cpu

import "github.com/mnistgpu/mnistgpu/internal/backend"

const elementwiseChunk = 1 << 14

func (c *Backend) ReLU(y, x backend.Tensor) {
	if !c.sameLen("relu", x.Len(), y) {
		return
	}
	ys, xs := f32(y), f32(x)
	parallelFor(len(xs), elementwiseChunk, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ys[i] = max(xs[i], 0)
		}
	})
}

func (c *Backend) ReLUBackward(dx, dy, y backend.Tensor) {
	if !c.sameLen("relu backward", y.Len(), dx, dy) {
		return
	}
	dxs, dys, ys := f32(dx), f32(dy), f32(y)
	parallelFor(len(ys), elementwiseChunk, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if ys[i] > 0 {
				dxs[i] = dys[i]
			} else {
				dxs[i] = 0
			}
		}
	})
}

func (c *Backend) Add(y, a, b backend.Tensor) {
	if !c.sameLen("add", y.Len(), a, b) {
		return
	}
	ys, as, bs := f32(y), f32(a), f32(b)
	parallelFor(len(ys), elementwiseChunk, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ys[i] = as[i] + bs[i]
		}
	})
}

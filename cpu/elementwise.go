package cpu

import "github.com/mnistgpu/mnistgpu/internal/backend"

// elementWork holds the element-wise loops (Adam's too) and the plain copy
// of a padded ReLU mask.
type elementWork struct {
	relu         reluTask
	reluBackward reluBackwardTask
	add          addTask
	adam         adamTask
	plainMask    []float32
}

const elementwiseChunk = 1 << 14

type reluTask struct{ y, x []float32 }

func (t *reluTask) run(_, lo, hi int) {
	relu(t.y[lo:hi], t.x[lo:hi])
}

func (c *Backend) ReLU(y, x backend.Tensor) {
	if !c.sameLen("relu", x.Len(), y) {
		return
	}
	c.elementWork.relu = reluTask{f32(y), f32(x)}
	c.pool.dynamic(x.Len(), elementwiseChunk, &c.elementWork.relu)
}

type reluBackwardTask struct{ dx, dy, y []float32 }

func (t *reluBackwardTask) run(_, lo, hi int) {
	reluBackward(t.dx[lo:hi], t.dy[lo:hi], t.y[lo:hi])
}

func (c *Backend) ReLUBackward(dx, dy, y backend.Tensor) {
	if !c.sameLen("relu backward", y.Len(), dx, dy) {
		return
	}
	c.elementWork.reluBackward = reluBackwardTask{f32(dx), f32(dy), f32(y)}
	c.pool.dynamic(y.Len(), elementwiseChunk, &c.elementWork.reluBackward)
}

type addTask struct{ y, a, b []float32 }

func (t *addTask) run(_, lo, hi int) {
	add(t.y[lo:hi], t.a[lo:hi], t.b[lo:hi])
}

func (c *Backend) Add(y, a, b backend.Tensor) {
	if !c.sameLen("add", y.Len(), a, b) {
		return
	}
	c.elementWork.add = addTask{f32(y), f32(a), f32(b)}
	c.pool.dynamic(y.Len(), elementwiseChunk, &c.elementWork.add)
}

package cpu

import "github.com/mnistgpu/mnistgpu/internal/backend"

type adamTask struct {
	p, g, m, v               []float32
	alpha, beta1, beta2, eps float32
}

func (t *adamTask) run(_, lo, hi int) {
	adamUpdate(t.p[lo:hi], t.g[lo:hi], t.m[lo:hi], t.v[lo:hi], t.alpha, t.beta1, t.beta2, t.eps)
}

// Adam follows Keras: epsilon is added to sqrt(v) after bias correction is
// folded into the step size, which differs slightly from PyTorch.
func (c *Backend) Adam(params, grads, m, v backend.Tensor, step int, lr, beta1, beta2, eps float32) {
	if !c.sameLen("adam", params.Len(), grads, m, v) {
		return
	}
	if step < 1 {
		c.fail("adam: step %d, want ≥ 1", step)
		return
	}
	alpha := backend.AdamStepSize(lr, beta1, beta2, step)
	c.elementWork.adam = adamTask{f32(params), f32(grads), f32(m), f32(v), alpha, beta1, beta2, eps}
	c.pool.dynamic(params.Len(), elementwiseChunk, &c.elementWork.adam)
}

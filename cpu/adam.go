package cpu

import (
	"math"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

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
	ps, gs, ms, vs := f32(params), f32(grads), f32(m), f32(v)
	t := float64(step)
	alpha := float32(float64(lr) * math.Sqrt(1-math.Pow(float64(beta2), t)) / (1 - math.Pow(float64(beta1), t)))
	parallelFor(len(ps), elementwiseChunk, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := gs[i]
			ms[i] += (g - ms[i]) * (1 - beta1)
			vs[i] += (g*g - vs[i]) * (1 - beta2)
			ps[i] -= alpha * ms[i] / (float32(math.Sqrt(float64(vs[i]))) + eps)
		}
	})
}

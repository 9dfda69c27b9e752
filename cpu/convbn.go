package cpu

import "github.com/mnistgpu/mnistgpu/internal/backend"

var _ backend.ConvBatchNorm = (*Backend)(nil)

// Conv2DBatchStats is Conv2D plus the batch statistics of its output: the
// direct convolution adds each tile up while it is in L1 (directStats);
// elsewhere a pass over y does, image by image like batchSums, so both
// paths and BatchNormTrain agree to the bit.
func (c *Backend) Conv2DBatchStats(y, saveMean, saveInvStd, x, w, b backend.Tensor, pad int, relu bool, movingMean, movingVar backend.Tensor, momentum, eps float32) {
	const op = "conv2d batch stats"
	g, ok := c.convGeometry(op, y, x, w, pad)
	if !ok || !c.sameLen(op, g.cout, b, saveMean, saveInvStd, movingMean, movingVar) {
		return
	}
	var s1, s2 []float64
	if canDirect(g.cout) {
		s1, s2 = c.addGroups(c.directStats(f32(y), f32(x), f32(w), f32(b), g, relu), g.n, g.cout)
	} else {
		c.Conv2D(y, x, w, b, pad)
		s1, s2 = c.batchSums(y, g.cout, relu)
	}
	c.saveBatchStats(s1, s2, y.Len()/g.cout, saveMean, saveInvStd, movingMean, movingVar, momentum, eps)
}

func (c *Backend) ReLUBatchNormApply(y, x, gamma, beta, saveMean, saveInvStd backend.Tensor) {
	c.batchNormApply("relu batchnorm apply", y, x, nil, gamma, beta, saveMean, saveInvStd, rowSteps{reluIn: true})
}

func (c *Backend) BatchNormAddReLUApply(y, x, z, gamma, beta, saveMean, saveInvStd backend.Tensor) {
	c.batchNormApply("batchnorm add relu apply", y, x, z, gamma, beta, saveMean, saveInvStd, rowSteps{reluOut: true})
}

func (c *Backend) batchNormApply(op string, y, x, z, gamma, beta, saveMean, saveInvStd backend.Tensor, s rowSteps) {
	_, _, ok := c.bnShape(op, x, gamma, beta, saveMean, saveInvStd)
	if !ok || !c.sameLen(op, x.Len(), y) || z != nil && !c.sameLen(op, x.Len(), z) {
		return
	}
	c.normalize(f32(y), f32(x), optional(z), f32(saveMean), f32(saveInvStd), f32(gamma), f32(beta), s)
}

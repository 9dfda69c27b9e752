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

var _ backend.ConvBackwardBatchNorm = (*Backend)(nil)

// Conv2DBackwardBN runs the add, the ReLU mask and the batch norm's sums as
// the epilogue of the direct input-gradient convolution (tileEpilogue);
// elsewhere as the separate passes, adding up image by image like
// BatchNormBackward, so that both paths agree to the bit.
func (c *Backend) Conv2DBackwardBN(g, dw, db, dy, x, w backend.Tensor, pad int, addend, mask, bnX backend.Tensor, reluX bool, saveMean, saveInvStd, dgamma, dbeta backend.Tensor) {
	const op = "conv2d backward batchnorm"
	geom, ok := c.convGeometry(op, dy, x, w, pad)
	if !ok || !c.sameLen(op, x.Len(), g, bnX) || !c.sameLen(op, geom.cin, saveMean, saveInvStd, dgamma, dbeta) ||
		addend != nil && !c.sameLen(op, x.Len(), addend) || mask != nil && !c.sameLen(op, x.Len(), mask) {
		return
	}
	e := tileEpilogue{kind: inputGradient, mean: f32(saveMean), relu: reluX, addend: optional(addend), mask: optional(mask), bnX: f32(bnX)}
	var s1, s2 []float64
	if sums := c.conv2DBackward(op, g, dw, db, dy, x, w, pad, e); sums != nil {
		s1, s2 = c.addGroups(sums, geom.n, geom.cin)
	} else {
		if addend != nil {
			c.Add(g, g, addend)
		}
		if mask != nil {
			c.ReLUBackward(g, g, mask)
		}
		s1, s2 = c.groupedSums(geom.n, sumDots, f32(bnX), f32(g), f32(saveMean), geom.cin, reluX)
	}
	c.saveBackwardSums(s1, s2, dgamma, dbeta, saveInvStd)
}

func (c *Backend) BatchNormBackwardApply(dx, g, bnX backend.Tensor, reluX bool, gamma, saveMean, saveInvStd, dgamma, dbeta backend.Tensor) {
	const op = "batchnorm backward apply"
	_, _, ok := c.bnShape(op, bnX, gamma, saveMean, saveInvStd, dgamma, dbeta)
	if !ok || !c.sameLen(op, bnX.Len(), dx, g) {
		return
	}
	s := rowSteps{}
	if reluX {
		s = rowSteps{reluIn: true, maskOut: true}
	}
	c.backwardAffine(dx, g, bnX, gamma, saveMean, saveInvStd, dgamma, dbeta, s)
}

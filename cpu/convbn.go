package cpu

import (
	"slices"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// conv2DBatchStats is Conv2D plus the batch statistics of its output: the
// direct convolution adds each tile up while it is in L1 (an outputStats
// epilogue); elsewhere a pass over y does, image by image like batchSums,
// so both paths and BatchNormTrain agree to the bit.
func (c *Backend) conv2DBatchStats(y, saveMean, saveInvStd, x, w, b backend.Tensor, pad int, relu bool, movingMean, movingVar backend.Tensor, momentum, eps float32) {
	const op = "conv2d batch stats"
	g, ok := c.convGeometry(op, y, x, w, pad)
	if !ok || !c.sameLen(op, g.cout, b, saveMean, saveInvStd, movingMean, movingVar) {
		return
	}
	var s1, s2 []float64
	if canDirect(g.cout) {
		s1, s2 = c.addGroups(c.directForward(f32(y), c.convInput(x, g, &c.directWork.plainX), f32(w), f32(b), g, false,
			tileEpilogue{kind: outputStats, mean: c.zeroChannels(g.cout), relu: relu}), g.n, g.cout)
	} else {
		c.Conv2D(y, x, w, b, pad)
		s1, s2 = c.batchSums(y, g.cout, relu)
	}
	c.saveBatchStats(s1, s2, y.Len()/g.cout, saveMean, saveInvStd, movingMean, movingVar, momentum, eps)
}

func (c *Backend) reluBatchNormApply(y, x, gamma, beta, saveMean, saveInvStd backend.Tensor) {
	c.batchNormApply("relu batchnorm apply", y, x, nil, gamma, beta, saveMean, saveInvStd, rowSteps{reluIn: true})
}

func (c *Backend) batchNormAddReLUApply(y, x, z, gamma, beta, saveMean, saveInvStd backend.Tensor) {
	c.batchNormApply("batchnorm add relu apply", y, x, z, gamma, beta, saveMean, saveInvStd, rowSteps{reluOut: true})
}

func (c *Backend) batchNormApply(op string, y, x, z, gamma, beta, saveMean, saveInvStd backend.Tensor, s rowSteps) {
	_, _, ok := c.bnShape(op, x, gamma, beta, saveMean, saveInvStd)
	if !ok || !c.sameLen(op, x.Len(), y) || z != nil && !c.sameLen(op, x.Len(), z) {
		return
	}
	c.affineInto(op, y, x, z, c.normalizing(f32(saveMean), f32(saveInvStd), f32(gamma), f32(beta), s))
}

// bnGradient is a batch norm's input gradient once its dgamma and dbeta
// are known: batchNormBackward(dx, DGamma, DBeta, G, X, Gamma, SaveMean,
// SaveInvStd) — reluBatchNormBackward with ReLUX — writes it into dx. The
// zero value means none.
type bnGradient struct {
	G, X                                       backend.Tensor
	ReLUX                                      bool
	Gamma, SaveMean, SaveInvStd, DGamma, DBeta backend.Tensor
}

// bnSums carries a convolution's input gradient g on into the batch norm
// before it: g = g + Addend (unless nil), then g = 0 where Mask ≤ 0 (unless
// nil: ReLUBackward(g, g, Mask)), and DGamma and DBeta are written as
// BatchNormBackward(…, DGamma, DBeta, g, X, …, SaveMean, SaveInvStd) —
// reluBatchNormBackward with ReLUX — would. The zero value means none.
type bnSums struct {
	Addend, Mask, X                     backend.Tensor
	ReLUX                               bool
	SaveMean, SaveInvStd, DGamma, DBeta backend.Tensor
}

// conv2DBackwardBN is Conv2DBackward(dx, dw, db, dy, x, w, pad) where dy
// is first set to the input gradient that from describes, unless from is
// the zero value, and then, unless next is the zero value, dx is carried
// on as next says. With from given, dy is scratch whose contents
// afterwards are unspecified; with from the zero value, dy is the given
// gradient and is only read. from.G may be dx: it is read before dx is
// written.
//
// It computes the pending dy of from as the direct
// convolution pads it (pendingGradient) and runs next as the epilogue of
// the direct input-gradient convolution (tileEpilogue); elsewhere each
// runs as the separate pass it stands for, adding up image by image like
// BatchNormBackward, so that both paths agree to the bit.
func (c *Backend) conv2DBackwardBN(dx, dw, db, dy, x, w backend.Tensor, pad int, from bnGradient, next bnSums) {
	const op = "conv2d backward batchnorm"
	geom, ok := c.convBackwardShapes(op, dx, dw, db, dy, x, w, pad)
	if !ok || !c.gradientFits(op, from, dy, geom.cout) || !c.sumsFit(op, next, dx, geom.cin) {
		return
	}
	var pending *pendingGradient
	if gradientGiven(from) {
		pending = c.pending(from)
	}
	var e tileEpilogue
	if sumsGiven(next) {
		e = tileEpilogue{kind: inputGradient, mean: f32(next.SaveMean), relu: next.ReLUX, addend: optional(next.Addend), bnX: f32(next.X)}
		if next.Mask != nil {
			mask := asTensor(next.Mask)
			e.mask, e.maskRows = mask.f, layoutOf(mask)
		}
	}
	sums := c.convBackward(geom, dx, dw, db, dy, x, w, pending, e)
	if !sumsGiven(next) {
		return
	}
	var s1, s2 []float64
	if sums != nil {
		s1, s2 = c.addGroups(sums, geom.n, geom.cin)
	} else {
		if next.Addend != nil {
			c.Add(dx, dx, next.Addend)
		}
		if next.Mask != nil {
			c.elementWork.reluBackward = reluBackwardTask{f32(dx), f32(dx), c.plainElements(next.Mask, &c.elementWork.plainMask)}
			c.pool.dynamic(dx.Len(), elementwiseChunk, &c.elementWork.reluBackward)
		}
		s1, s2 = c.groupedSums(geom.n, sumDots, f32(next.X), f32(dx), f32(next.SaveMean), geom.cin, next.ReLUX)
	}
	c.saveBackwardSums(s1, s2, next.DGamma, next.DBeta, next.SaveInvStd)
}

// gradientGiven and sumsGiven say whether from or next asks for anything:
// the zero value does not (a half-filled one does, and fails its checks).
func gradientGiven(from bnGradient) bool { return from != bnGradient{} }

func sumsGiven(next bnSums) bool { return next != bnSums{} }

// gradientFits checks from (if given) against dy of ch channels: every
// tensor present, x and g shaped like dy.
func (c *Backend) gradientFits(op string, from bnGradient, dy backend.Tensor, ch int) bool {
	if !gradientGiven(from) {
		return true
	}
	if !c.present(op, "batch-norm gradient", from.G, from.X, from.Gamma, from.SaveMean, from.SaveInvStd, from.DGamma, from.DBeta) {
		return false
	}
	m, xch, ok := c.bnShape(op, from.X, from.Gamma, from.SaveMean, from.SaveInvStd, from.DGamma, from.DBeta)
	if ok && xch != ch {
		c.fail("%s: batch-norm gradient of %d channels for a tensor of %d", op, xch, ch)
		return false
	}
	return ok && c.sameLen(op, m*ch, from.G, dy)
}

// sumsFit checks next (if given) against the input gradient dx of cin
// channels: dx present, every tensor next needs present and shaped like dx.
func (c *Backend) sumsFit(op string, next bnSums, dx backend.Tensor, cin int) bool {
	if !sumsGiven(next) {
		return true
	}
	if dx == nil {
		c.fail("%s: the batch norm's sums need the input gradient, dx is nil", op)
		return false
	}
	if !c.present(op, "batch-norm sums", next.X, next.SaveMean, next.SaveInvStd, next.DGamma, next.DBeta) {
		return false
	}
	_, xch, ok := c.bnShape(op, next.X, next.SaveMean, next.SaveInvStd, next.DGamma, next.DBeta)
	if ok && xch != cin {
		c.fail("%s: batch-norm sums of %d channels for an input gradient of %d", op, xch, cin)
		return false
	}
	if isPadded(next.Mask) && !slices.Equal(next.Mask.Shape(), dx.Shape()) {
		c.fail("%s: a padded mask of shape %v for an input gradient of %v (its rows are placed by its shape)", op, next.Mask.Shape(), dx.Shape())
		return false
	}
	return ok && c.sameLen(op, dx.Len(), next.X) &&
		(next.Addend == nil || c.sameLen(op, dx.Len(), next.Addend)) && (next.Mask == nil || c.sameLen(op, dx.Len(), next.Mask))
}

// present fails unless every tensor of what is there (the message is
// built only on failure: this runs every training step).
func (c *Backend) present(op, what string, ts ...backend.Tensor) bool {
	for i, t := range ts {
		if t == nil {
			c.fail("%s: %s: tensor %d of %d is missing", op, what, i+1, len(ts))
			return false
		}
	}
	return true
}

// pending describes from as a pendingGradient, its coefficients in a
// buffer of their own (the convolution's passes must not overwrite them).
func (c *Backend) pending(from bnGradient) *pendingGradient {
	ch := from.Gamma.Len()
	all := grown(&c.directWork.pendingCoeff, 3*ch)
	f := backwardMap(all[:ch], all[ch:2*ch], all[2*ch:], from.X.Len()/ch, from.Gamma, from.SaveMean, from.SaveInvStd, from.DGamma, from.DBeta, gradientSteps(from.ReLUX))
	c.directWork.pendingGrad = pendingGradient{x: f32(from.X), g: f32(from.G), f: f}
	return &c.directWork.pendingGrad
}

// gradientSteps are the row steps of a batch norm's input gradient: with
// reluX the batch norm took max(x, 0), so the gradient passes where x > 0.
func gradientSteps(reluX bool) rowSteps {
	if reluX {
		return rowSteps{reluIn: true, maskOut: true}
	}
	return rowSteps{}
}

func (c *Backend) conv2DReLUBatchNormInfer(y, x, w, b backend.Tensor, pad int, gamma, beta, movingMean, movingVar backend.Tensor, eps float32) {
	c.convBatchNormInfer("conv2d relu batchnorm infer", y, x, w, b, pad, nil, gamma, beta, movingMean, movingVar, eps, rowSteps{reluIn: true})
}

func (c *Backend) conv2DBatchNormAddReLUInfer(y, x, w, b backend.Tensor, pad int, z, gamma, beta, movingMean, movingVar backend.Tensor, eps float32) {
	c.convBatchNormInfer("conv2d batchnorm add relu infer", y, x, w, b, pad, z, gamma, beta, movingMean, movingVar, eps, rowSteps{reluOut: true})
}

// convBatchNormInfer normalizes each tile of the direct convolution as it
// is written (tileEpilogue); elsewhere it is Conv2D and then the batch
// norm's pass, the same element-wise map either way.
func (c *Backend) convBatchNormInfer(op string, y, x, w, b backend.Tensor, pad int, z, gamma, beta, movingMean, movingVar backend.Tensor, eps float32, s rowSteps) {
	g, ok := c.convGeometry(op, y, x, w, pad)
	if !ok || !c.sameLen(op, g.cout, b, gamma, beta, movingMean, movingVar) || z != nil && !c.sameLen(op, y.Len(), z) {
		return
	}
	f := c.inferenceMap(g.cout, gamma, beta, movingMean, movingVar, eps, s)
	if !canDirect(g.cout) {
		c.Conv2D(y, x, w, b, pad)
		c.affine(f32(y), f32(y), optional(z), f)
		return
	}
	c.directForward(f32(y), c.convInput(x, g, &c.directWork.plainX), f32(w), f32(b), g, false, tileEpilogue{kind: normalized, addend: optional(z), affine: f})
}

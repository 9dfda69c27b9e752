package backend

// Fused ops are optional: a backend that offers one saves passes over the
// activations (on a CPU, where a training step is bound by memory traffic
// outside the convolutions, that is most of the time spent between them).
// Each is exactly the sequence of Backend ops its comment names, up to the
// order of rounding, without storing the intermediate. The model asks for
// them with a type assertion and falls back to the plain ops.

// ReLUBatchNorm is batch norm of max(x, 0), with x the pre-activation.
type ReLUBatchNorm interface {
	// ReLUBatchNormTrain is ReLU(r, x) then BatchNormTrain(y, …, r, …).
	ReLUBatchNormTrain(y, saveMean, saveInvStd, x, gamma, beta, movingMean, movingVar Tensor, momentum, eps float32)
	// ReLUBatchNormInfer is ReLU(r, x) then BatchNormInfer(y, r, …); y may be x.
	ReLUBatchNormInfer(y, x, gamma, beta, movingMean, movingVar Tensor, eps float32)
	// ReLUBatchNormBackward is BatchNormBackward(dx, …, dy, r, …) then
	// ReLUBackward(dx, dx, r), with r = max(x, 0).
	ReLUBatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd Tensor)
}

// BatchNormAddReLU is y = max(batchnorm(x) + z, 0), z nil for none (a
// residual block's sum). Its gradient takes the plain ops: ReLUBackward
// reads y, and BatchNormBackward reads x, not the normalized values.
type BatchNormAddReLU interface {
	// BatchNormAddReLUTrain is BatchNormTrain(t, …, x, …), then Add(t, t, z)
	// unless z is nil, then ReLU(y, t).
	BatchNormAddReLUTrain(y, saveMean, saveInvStd, x, z, gamma, beta, movingMean, movingVar Tensor, momentum, eps float32)
	// BatchNormAddReLUInfer is the same with BatchNormInfer; y may be x or z.
	BatchNormAddReLUInfer(y, x, z, gamma, beta, movingMean, movingVar Tensor, eps float32)
}

// ConvBatchNorm is a convolution followed by a training-mode batch norm of
// its output (or of the output's ReLU), with the batch statistics added up
// as the convolution writes each tile, while it is still in cache: the
// batch norm then makes one pass over the activations instead of two.
// A backend that offers it offers ReLUBatchNorm and BatchNormAddReLU too.
type ConvBatchNorm interface {
	// Conv2DBatchStats is Conv2D(y, x, w, b, pad) that also writes the
	// batch statistics of y's channels (of max(y, 0) with relu) into
	// saveMean and saveInvStd and updates movingMean and movingVar, as
	// BatchNormTrain (ReLUBatchNormTrain with relu) of y would.
	Conv2DBatchStats(y, saveMean, saveInvStd, x, w, b Tensor, pad int, relu bool, movingMean, movingVar Tensor, momentum, eps float32)
	// ReLUBatchNormApply is the rest of ReLUBatchNormTrain(y, …, x, …)
	// once Conv2DBatchStats(x, …, relu true, …) has saved the statistics.
	ReLUBatchNormApply(y, x, gamma, beta, saveMean, saveInvStd Tensor)
	// BatchNormAddReLUApply is the rest of BatchNormAddReLUTrain(y, …, x,
	// z, …) once Conv2DBatchStats(x, …, relu false, …) has saved them.
	BatchNormAddReLUApply(y, x, z, gamma, beta, saveMean, saveInvStd Tensor)
}

// ConvBatchNormInfer is a convolution followed by an inference-mode batch
// norm, whose statistics are known before the convolution runs: the
// backend normalizes each tile as it writes it, so the output is written
// once. A backend that offers it offers ReLUBatchNorm and BatchNormAddReLU
// too.
type ConvBatchNormInfer interface {
	// Conv2DReLUBatchNormInfer is Conv2D(y, x, w, b, pad) then
	// ReLUBatchNormInfer(y, y, …).
	Conv2DReLUBatchNormInfer(y, x, w, b Tensor, pad int, gamma, beta, movingMean, movingVar Tensor, eps float32)
	// Conv2DBatchNormAddReLUInfer is Conv2D(y, x, w, b, pad) then
	// BatchNormAddReLUInfer(y, y, z, …), z nil for none.
	Conv2DBatchNormAddReLUInfer(y, x, w, b Tensor, pad int, z, gamma, beta, movingMean, movingVar Tensor, eps float32)
}

// ConvBackwardBatchNorm runs a convolution's backward pass between two
// batch norms' backward passes, doing their work on the way in and out:
// its dy is the gradient a batch norm's backward pass hands back, computed
// as the convolution lays dy out (the batch norm never writes it), and its
// input gradient is carried on through the ReLU (or the residual sum)
// before the convolution and into the sums of the batch norm before that,
// tile by tile as the convolution writes it. A backend that offers it
// offers ReLUBatchNorm too.
type ConvBackwardBatchNorm interface {
	// Conv2DBackwardBN is Conv2DBackward(dx, dw, db, dy, x, w, pad) where
	// dy is first set to BatchNormBackwardApply(dy, from) unless from is
	// the zero value, and then, unless next is the zero value, dx is
	// carried on as next says. With from given, dy is scratch whose
	// contents afterwards are unspecified (the backend may or may not
	// write it); with from the zero value, dy is the given gradient and is
	// only read. from.G may be dx: it is read before dx is written.
	Conv2DBackwardBN(dx, dw, db, dy, x, w Tensor, pad int, from BatchNormGradient, next BatchNormSums)
	// BatchNormBackwardApply writes into dx the rest of the batch norm's
	// backward pass that from describes.
	BatchNormBackwardApply(dx Tensor, from BatchNormGradient)
}

// BatchNormGradient is a batch norm's input gradient once its dgamma and
// dbeta are known: BatchNormBackward(dx, DGamma, DBeta, G, X, Gamma,
// SaveMean, SaveInvStd) — ReLUBatchNormBackward with ReLUX — writes it
// into dx. The zero value means none.
type BatchNormGradient struct {
	G, X                                       Tensor
	ReLUX                                      bool
	Gamma, SaveMean, SaveInvStd, DGamma, DBeta Tensor
}

// BatchNormSums carries a convolution's input gradient g on into the batch
// norm before it: g = g + Addend (unless nil), then g = 0 where Mask ≤ 0
// (unless nil: ReLUBackward(g, g, Mask)), and DGamma and DBeta are written
// as BatchNormBackward(…, DGamma, DBeta, g, X, …, SaveMean, SaveInvStd) —
// ReLUBatchNormBackward with ReLUX — would. The zero value means none.
type BatchNormSums struct {
	Addend, Mask, X                     Tensor
	ReLUX                               bool
	SaveMean, SaveInvStd, DGamma, DBeta Tensor
}

// PaddedActivations stores an activation in the zero-padded layout that a
// convolution with that padding reads, so the convolution reads it where
// it stands instead of copying it into that layout (on a CPU twice a
// training step: for the forward pass and for the weight gradient). Such
// a tensor has the plain shape; only these ops take it: Upload, Download;
// the x of Conv2D, Conv2DBatchStats, Conv2DBackward, Conv2DBackwardBN,
// Conv2DReLUBatchNormInfer and Conv2DBatchNormAddReLUInfer; the y and z of
// ReLUBatchNormApply and BatchNormAddReLUApply; BatchNormSums.Mask (shaped
// like dx). A backend that offers it offers ConvBatchNorm and
// ConvBackwardBatchNorm too.
type PaddedActivations interface {
	// AllocPadded is Alloc(n, h, w, c) stored with pad zero pixels around
	// each image; where the padding would not pay (the backend's
	// convolutions would copy it out again) it is a plain Alloc.
	AllocPadded(pad, n, h, w, c int) Tensor
}

// BatchNormMaxPool is a training-mode ReLU batch norm whose output only a
// 2x2 max pool reads: the normalized activations are pooled as they are
// computed and never stored, and the pool's backward pass computes them
// again from x to find each window's maximum. A backend that offers it
// offers ConvBatchNorm and ConvBackwardBatchNorm too.
type BatchNormMaxPool interface {
	// ReLUBatchNormMaxPool is ReLUBatchNormApply(t, x, …) then
	// MaxPool2x2(y, t), with t never stored.
	ReLUBatchNormMaxPool(y, x, gamma, beta, saveMean, saveInvStd Tensor)
	// MaxPoolReLUBatchNormBackward is MaxPool2x2Backward(dt, dy, t, y)
	// with t as above (dt: the gradient at the batch norm's output), then
	// the parameter gradients dgamma and dbeta of
	// ReLUBatchNormBackward(…, dgamma, dbeta, dt, x, …). The batch norm's
	// input gradient is BatchNormGradient{G: dt, X: x, ReLUX: true, …},
	// left for Conv2DBackwardBN to compute as it reads it.
	MaxPoolReLUBatchNormBackward(dt, dgamma, dbeta, dy, x, gamma, beta, saveMean, saveInvStd Tensor)
}

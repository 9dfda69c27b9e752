package cpu

import "github.com/mnistgpu/mnistgpu/internal/backend"

// The units, fused: each conv unit is a convolution that adds up its batch
// statistics as it writes each tile (conv2DBatchStats) and one pass that
// normalizes, adds the shortcut, rectifies and pools (the apply ops,
// reluBatchNormMaxPool), or in inference one convolution that normalizes
// each tile as it writes it. Backward, each convolution computes the batch
// norm's input gradient after it as it lays its dy out and hands its input
// gradient through the shortcut and the ReLU to the batch-norm sums of the
// unit before (conv2DBackwardBN): the sums of a unit's batch norm are taken
// by whoever writes the gradient at its output, so a unit's backward pass
// starts with its dgamma and dbeta known. The conv units' shapes are those
// fusedConv accepts.
//
// The passes pick their kernels per instruction set underneath (the direct
// convolution where the AVX-512 strided kernel runs, else the packed GEMM;
// the vector or portable row loops of chan_*.go), so a kernel for another
// ISA slots in there and every unit uses it; a unit is where a new fusion
// goes.

// AllocActivation stores a training batch's output padded for the
// convolution that reads it where that pays (allocPadded). An inference
// batch's is plain: the inference convolutions normalize each tile as they
// write it, in the plain layout.
func (c *Backend) AllocActivation(pad, n, h, w, ch int, training bool) backend.Tensor {
	if !training {
		return c.Alloc(n, h, w, ch)
	}
	return c.allocPadded(pad, n, h, w, ch)
}

// AllocConvState keeps the convolution's output only: the pool's backward
// pass normalizes it again rather than keeping the normalized map.
func (c *Backend) AllocConvState(u backend.Conv, n, h, w, ch int, training bool) backend.ConvState {
	if !c.fusedConv("conv unit", u, false) || !training && !u.Pool {
		return backend.ConvState{}
	}
	return backend.ConvState{Pre: c.Alloc(n, h, w, ch)}
}

// fusedConv says whether u (with a shortcut where z) is a unit the fused
// passes compute, and records an error naming it where not: a ReLU on
// exactly one side of the batch norm, the shortcut only before a ReLU, the
// pool only after the batch norm of a rectified convolution.
func (c *Backend) fusedConv(op string, u backend.Conv, z bool) bool {
	if u.PreReLU == u.PostReLU || u.PreReLU && z || u.Pool && !u.PreReLU {
		c.fail("%s: no CPU kernel for a conv unit %+v (shortcut %t): the fused passes take conv → ReLU → batch norm [→ pool] or conv → batch norm [+ shortcut] → ReLU", op, u, z)
		return false
	}
	return true
}

func (c *Backend) ConvUnitForward(y, x, z backend.Tensor, u backend.Conv, l *backend.Layer, s backend.ConvState, training bool) {
	if !c.fusedConv("conv unit", u, z != nil) {
		return
	}
	if !training {
		out := y
		if u.Pool {
			out = s.Pre
		}
		if u.PreReLU {
			c.conv2DReLUBatchNormInfer(out, x, l.W, l.B, u.Pad, l.Gamma, l.Beta, l.MovingMean, l.MovingVar, u.BN.Eps)
		} else {
			c.conv2DBatchNormAddReLUInfer(out, x, l.W, l.B, u.Pad, z, l.Gamma, l.Beta, l.MovingMean, l.MovingVar, u.BN.Eps)
		}
		if u.Pool {
			c.MaxPool2x2(y, out)
		}
		return
	}
	c.conv2DBatchStats(s.Pre, l.Mean, l.InvStd, x, l.W, l.B, u.Pad, u.PreReLU, l.MovingMean, l.MovingVar, u.BN.Momentum, u.BN.Eps)
	switch {
	case u.Pool:
		c.reluBatchNormMaxPool(y, s.Pre, l.Gamma, l.Beta, l.Mean, l.InvStd)
	case u.PreReLU:
		c.reluBatchNormApply(y, s.Pre, l.Gamma, l.Beta, l.Mean, l.InvStd)
	default:
		c.batchNormAddReLUApply(y, s.Pre, z, l.Gamma, l.Beta, l.Mean, l.InvStd)
	}
}

// ConvUnitOutputBackward takes the batch norm's sums as it writes g: in the
// pool's backward pass, or in one pass over g after its mask.
func (c *Backend) ConvUnitOutputBackward(g, dy, y backend.Tensor, u backend.Conv, l *backend.Layer, s backend.ConvState) {
	const op = "conv unit output backward"
	if !c.fusedConv(op, u, false) {
		return
	}
	if u.Pool {
		c.maxPoolReLUBatchNormBackward(g, l.DGamma, l.DBeta, dy, s.Pre, l.Gamma, l.Beta, l.Mean, l.InvStd)
		return
	}
	_, ch, ok := c.bnShape(op, s.Pre, l.Mean, l.InvStd, l.DGamma, l.DBeta)
	if !ok || !c.sameLen(op, s.Pre.Len(), g, dy, y) {
		return
	}
	if g != dy {
		c.Copy(g, dy)
	}
	if u.PostReLU {
		c.elementWork.reluBackward = reluBackwardTask{f32(g), f32(g), c.plainElements(y, &c.elementWork.plainMask)}
		c.pool.dynamic(g.Len(), elementwiseChunk, &c.elementWork.reluBackward)
	}
	s1, s2 := c.groupedSums(s.Pre.Shape()[0], sumDots, f32(s.Pre), f32(g), f32(l.Mean), ch, u.PreReLU)
	c.saveBackwardSums(s1, s2, l.DGamma, l.DBeta, l.InvStd)
}

func (c *Backend) ConvUnitBackward(dx, dy, g, x backend.Tensor, u backend.Conv, l *backend.Layer, s backend.ConvState, in *backend.ConvInput) {
	if !c.fusedConv("conv unit backward", u, false) {
		return
	}
	from := bnGradient{G: g, X: s.Pre, ReLUX: u.PreReLU, Gamma: l.Gamma, SaveMean: l.Mean, SaveInvStd: l.InvStd, DGamma: l.DGamma, DBeta: l.DBeta}
	var next bnSums
	if in == nil {
		dx = nil
	} else {
		p := in.Layer
		next = bnSums{Addend: in.Addend, X: in.State.Pre, ReLUX: in.Unit.PreReLU, SaveMean: p.Mean, SaveInvStd: p.InvStd, DGamma: p.DGamma, DBeta: p.DBeta}
		if in.Unit.PostReLU {
			next.Mask = in.Y
		}
	}
	c.conv2DBackwardBN(dx, l.DW, l.DB, dy, x, l.W, u.Pad, from, next)
}

func (c *Backend) DenseUnitForward(y, pre, x backend.Tensor, u backend.Dense, l *backend.Layer, training bool) {
	if !training {
		c.Dense(y, x, l.W, l.B)
		c.reluBatchNormInfer(y, y, l.Gamma, l.Beta, l.MovingMean, l.MovingVar, u.BN.Eps)
		return
	}
	c.Dense(pre, x, l.W, l.B)
	c.reluBatchNormTrain(y, l.Mean, l.InvStd, pre, l.Gamma, l.Beta, l.MovingMean, l.MovingVar, u.BN.Momentum, u.BN.Eps)
}

func (c *Backend) DenseUnitBackward(dx, dpre, dy, pre, x backend.Tensor, u backend.Dense, l *backend.Layer) {
	c.reluBatchNormBackward(dpre, l.DGamma, l.DBeta, dy, pre, l.Gamma, l.Mean, l.InvStd)
	c.DenseBackward(dx, l.DW, l.DB, dpre, x, l.W)
}

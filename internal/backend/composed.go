package backend

// Composed runs every unit as the plain ops it stands for, on Ops. A
// backend gets the units by embedding it (with Ops set to itself) and may
// replace any of them, as a set (see Units); Composed{Ops: b} is also b
// with every unit composed, which the tests compare b's own units with.
type Composed struct{ Ops }

var _ Backend = Composed{}

// AllocActivation is a plain Alloc: the plain ops read the plain layout.
func (c Composed) AllocActivation(pad, n, h, w, ch int, training bool) Tensor {
	return c.Alloc(n, h, w, ch)
}

// AllocConvState keeps the convolution's output in training (the batch
// norm's backward pass reads it) and, where the unit pools, the batch
// norm's output, which MaxPool2x2Backward reads; in inference only a
// pooling unit needs a tensor, the unpooled map before the pool.
func (c Composed) AllocConvState(u Conv, n, h, w, ch int, training bool) ConvState {
	var s ConvState
	if training || u.Pool {
		s.Pre = c.Alloc(n, h, w, ch)
	}
	if training && u.Pool {
		s.Norm = c.Alloc(n, h, w, ch)
	}
	return s
}

// ConvUnitForward: the ReLU before the batch norm runs in place on s.Pre, and
// the batch norm writes y (s.Norm where the unit pools), where the sum and
// the ReLU after it run in place. In inference everything after the
// convolution runs in place on y (s.Pre where the unit pools).
func (c Composed) ConvUnitForward(y, x, z Tensor, u Conv, l *Layer, s ConvState, training bool) {
	pre, out := s.Pre, y
	if u.Pool {
		out = s.Norm
	}
	if !training {
		pre = y
		if u.Pool {
			pre = s.Pre
		}
		out = pre
	}
	c.Conv2D(pre, x, l.W, l.B, u.Pad)
	if u.PreReLU {
		c.ReLU(pre, pre)
	}
	if training {
		c.BatchNormTrain(out, l.Mean, l.InvStd, pre, l.Gamma, l.Beta, l.MovingMean, l.MovingVar, u.BN.Momentum, u.BN.Eps)
	} else {
		c.BatchNormInfer(out, pre, l.Gamma, l.Beta, l.MovingMean, l.MovingVar, u.BN.Eps)
	}
	c.addReLU(out, z, u.PostReLU)
	if u.Pool {
		c.MaxPool2x2(y, out)
	}
}

// addReLU adds z (unless nil) to y and then, with relu, rectifies y.
func (c Composed) addReLU(y, z Tensor, relu bool) {
	if z != nil {
		c.Add(y, y, z)
	}
	if relu {
		c.ReLU(y, y)
	}
}

func (c Composed) ConvUnitOutputBackward(g, dy, y Tensor, u Conv, l *Layer, s ConvState) {
	out := y
	if u.Pool {
		out = s.Norm
		c.MaxPool2x2Backward(g, dy, out, y)
	} else if g != dy {
		c.Copy(g, dy)
	}
	if u.PostReLU {
		c.ReLUBackward(g, g, out)
	}
}

// ConvUnitBackward: the batch norm's input gradient goes into dy, where the
// ReLU's backward pass runs in place; then the convolution's, and the
// shortcut and in's ReLU in place on dx.
func (c Composed) ConvUnitBackward(dx, dy, g, x Tensor, u Conv, l *Layer, s ConvState, in *ConvInput) {
	c.BatchNormBackward(dy, l.DGamma, l.DBeta, g, s.Pre, l.Gamma, l.Mean, l.InvStd)
	if u.PreReLU {
		c.ReLUBackward(dy, dy, s.Pre)
	}
	if in == nil {
		c.Conv2DBackward(nil, l.DW, l.DB, dy, x, l.W, u.Pad)
		return
	}
	c.Conv2DBackward(dx, l.DW, l.DB, dy, x, l.W, u.Pad)
	if in.Addend != nil {
		c.Add(dx, dx, in.Addend)
	}
	if in.Unit.PostReLU {
		c.ReLUBackward(dx, dx, in.Y)
	}
}

// DenseUnitForward: in training the ReLU runs in place on pre; in inference
// everything after the dense layer runs in place on y.
func (c Composed) DenseUnitForward(y, pre, x Tensor, u Dense, l *Layer, training bool) {
	if !training {
		pre = y
	}
	c.Dense(pre, x, l.W, l.B)
	c.ReLU(pre, pre)
	if training {
		c.BatchNormTrain(y, l.Mean, l.InvStd, pre, l.Gamma, l.Beta, l.MovingMean, l.MovingVar, u.BN.Momentum, u.BN.Eps)
	} else {
		c.BatchNormInfer(y, pre, l.Gamma, l.Beta, l.MovingMean, l.MovingVar, u.BN.Eps)
	}
}

func (c Composed) DenseUnitBackward(dx, dpre, dy, pre, x Tensor, u Dense, l *Layer) {
	c.BatchNormBackward(dpre, l.DGamma, l.DBeta, dy, pre, l.Gamma, l.Mean, l.InvStd)
	c.ReLUBackward(dpre, dpre, pre)
	c.DenseBackward(dx, l.DW, l.DB, dpre, x, l.W)
}

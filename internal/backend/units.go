package backend

// Units are the layers the model graph is written in: each is a fixed
// sequence of the plain ops (Ops), and Composed runs exactly that sequence,
// so every backend has them. A backend may run a unit its own way (the CPU
// backend fuses each into one or two passes over the activations); it then
// computes the same values, and on the CPU the same bits, as Composed on
// the same backend's plain ops. The tests hold each backend's units to that.
//
// A backend implements the units as a set: the state a forward unit keeps
// for its backward unit (ConvState) and the work one backward unit leaves
// for the next (see ConvUnitBackward) are the backend's own business, so a
// backend that replaces one unit's backward pass replaces the forward unit
// with it.
type Units interface {
	// AllocActivation allocates a unit's (N, H, W, C) output that a conv
	// unit with padding pad reads as its x (or z), in a training batch or
	// an inference one. A backend may store it padded for that
	// convolution; such a tensor goes only to units (as x, y or z) and to
	// Upload and Download.
	AllocActivation(pad, n, h, w, c int, training bool) Tensor
	// AllocConvState allocates what a conv unit whose convolution writes
	// (n, h, w, c) keeps from its forward pass: for the backward pass in
	// training, as scratch in inference.
	AllocConvState(u Conv, n, h, w, c int, training bool) ConvState

	// ConvUnitForward runs the conv unit u on x:
	// y = pool(relu(bn(relu(conv(x))) + z)), each step as u says, z nil for
	// none. In training the batch norm uses the batch statistics, saves
	// them in l.Mean and l.InvStd and updates the moving ones; otherwise it
	// uses the moving ones. y may not be x or z.
	ConvUnitForward(y, x, z Tensor, u Conv, l *Layer, s ConvState, training bool)
	// ConvUnitOutputBackward starts the backward pass of the last conv unit,
	// whose output's gradient dy a plain op wrote: it writes into g the
	// gradient at u's batch-norm output (through the pool and the ReLU after
	// the batch norm, as u has them), for ConvUnitBackward.
	ConvUnitOutputBackward(g, dy, y Tensor, u Conv, l *Layer, s ConvState)
	// ConvUnitBackward takes the gradient g at u's batch-norm output back
	// through the batch norm, the ReLU before it and the convolution,
	// writing l's four gradients, and, unless in is nil, the input gradient
	// into dx: the gradient at the batch-norm output of in's unit (which
	// wrote x and does not pool), with in.Addend added and through in's
	// ReLU after its batch norm. dy is scratch of g's shape, its contents
	// afterwards unspecified; dx may be g (g is read first). A backend may
	// write in's DGamma and DBeta here already; the ConvUnitBackward of
	// in's own unit writes all four of its gradients.
	ConvUnitBackward(dx, dy, g, x Tensor, u Conv, l *Layer, s ConvState, in *ConvInput)

	// DenseUnitForward runs the dense unit y = bn(relu(x w + b)); pre (N, Out)
	// is the dense output, kept in training for DenseUnitBackward (a
	// backend may keep it rectified); in inference it is unused (nil).
	// Training and the batch statistics as in ConvUnitForward.
	DenseUnitForward(y, pre, x Tensor, u Dense, l *Layer, training bool)
	// DenseUnitBackward takes dy, the gradient at the dense unit's output,
	// back to dx (unless nil), writing l's four gradients; dpre is scratch
	// of dy's shape.
	DenseUnitBackward(dx, dpre, dy, pre, x Tensor, u Dense, l *Layer)
}

// BatchNorm is a batch norm's settings (Keras': momentum 0.99, epsilon 1e-3).
type BatchNorm struct{ Momentum, Eps float32 }

// Conv describes a conv unit: conv → [ReLU] → batch norm → [+ shortcut] →
// [ReLU] → [2x2 max pool]; the shortcut is there when ConvUnitForward gets a z.
type Conv struct {
	Pad      int  // zero pixels each side of the convolution's input
	PreReLU  bool // ReLU between the convolution and the batch norm
	PostReLU bool // ReLU after the batch norm (and the shortcut's sum)
	Pool     bool // 2x2 max pool, stride 2, at the end
	BN       BatchNorm
}

// Dense describes a dense unit: dense → ReLU → batch norm.
type Dense struct{ BN BatchNorm }

// Layer is one unit's parameters, their gradients and the batch statistics
// of its last training pass. Shapes are for a conv unit (KH, KW, Cin, Cout)
// or a dense one (In, Out); every vector has one value per output channel.
type Layer struct {
	W, B                  Tensor // kernel, bias
	Gamma, Beta           Tensor // the batch norm's scale and shift
	MovingMean, MovingVar Tensor // the batch norm's inference statistics
	// Gradients of W, B, Gamma and Beta, overwritten by the backward unit.
	DW, DB, DGamma, DBeta Tensor
	// Mean and InvStd are the batch statistics of the last training
	// forward pass (mean and 1/sqrt(var+eps)), which its backward pass reads.
	Mean, InvStd Tensor
}

// ConvState is what a conv unit keeps between its forward and backward
// passes, as the backend's AllocConvState allocated it.
type ConvState struct {
	// Pre (N, H, W, C) is the convolution's output (a backend may keep it
	// rectified where the unit has PreReLU). In inference it is nil, or
	// scratch where the unit pools.
	Pre Tensor
	// Norm (N, H, W, C) is the batch norm's output before the pool, where
	// the unit pools and the backend stores it (Composed does, for
	// MaxPool2x2Backward); else nil.
	Norm Tensor
}

// ConvInput is the unit whose output a conv unit reads as x, for the
// input gradient of ConvUnitBackward.
type ConvInput struct {
	Unit  Conv
	Layer *Layer
	State ConvState
	Y     Tensor // its output (the x read), whose gradient is dx
	// Addend is another gradient at Y, added to dx (an identity shortcut
	// that carries Y to a later unit's z); nil for none.
	Addend Tensor
}

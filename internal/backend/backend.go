// Package backend defines the ops the model graph needs and the registry
// through which backends (cpu, cuda) make themselves available by name.
//
// The interface is shaped so that a GPU backend can keep every tensor on the
// device for a whole run: ops take outputs first, never allocate, never return
// host data, and report failures through a sticky error read by Sync. Only
// Upload*/Download touch host memory.
//
// Layouts: images are NHWC, convolution kernels (KH, KW, Cin, Cout) and dense
// kernels (In, Out), as in Keras, so checkpoints and parameter tables read the
// same on every backend.
package backend

// Tensor is an array owned by a backend: float32 unless allocated with
// AllocInt32. On a GPU backend its memory lives on the device.
type Tensor interface {
	Shape() []int
	Len() int
}

// Elements is the number of elements of a tensor of the given shape.
func Elements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Dataset is a set of uint8 images and labels that a backend holds (on the
// device for a GPU), so that batches are gathered without host traffic.
type Dataset interface {
	Len() int
	Close() error
}

// Backend is what the model runs on: the plain ops and the units written
// in them (units.go), which a backend gets by embedding Composed.
type Backend interface {
	Ops
	Units
}

// Ops supplies memory and the plain numeric ops. Ops do not allocate after
// their first call for a given shape, so a training step has no
// steady-state allocation. Parameter-gradient outputs (dw, db, dgamma,
// dbeta) are always overwritten, never accumulated. Outputs must not overlap
// inputs, except where an op says it may run in place.
type Ops interface {
	// Name is the registry name ("cpu", "cuda"); Device describes the hardware.
	Name() string
	Device() string
	// Sync waits for queued work and returns the first error any op hit since
	// the last Sync (an op itself never returns an error, so that a GPU
	// backend can queue work without host round trips).
	Sync() error
	// Close frees everything the backend allocated.
	Close() error

	// Alloc returns a zeroed float32 tensor; AllocInt32 a zeroed int32 one.
	Alloc(shape ...int) Tensor
	AllocInt32(shape ...int) Tensor
	// View is a tensor of the given shape over t's elements [offset, offset+prod(shape)).
	// It shares t's memory and t's element type.
	View(t Tensor, offset int, shape ...int) Tensor
	Upload(dst Tensor, src []float32) error
	UploadInt32(dst Tensor, src []int32) error
	Download(dst []float32, src Tensor) error
	// Fill sets every element of a float32 tensor to v. Copy copies src to dst.
	Fill(t Tensor, v float32)
	Copy(dst, src Tensor)

	// UploadDataset hands n images of h*w pixels and their labels to the backend.
	UploadDataset(pixels, labels []uint8, n, h, w int) (Dataset, error)
	// GatherBatch writes images perm[offset:offset+B] of d, scaled to [0,1],
	// into x (B, H, W, 1) and their labels into y (B, int32).
	GatherBatch(x, y Tensor, d Dataset, perm Tensor, offset int)

	// Conv2D: y = conv(x, w) + b with stride 1 and `pad` zero pixels each side.
	// x (N, H, W, Cin), w (KH, KW, Cin, Cout), b (Cout), y (N, H+2p-KH+1, W+2p-KW+1, Cout).
	Conv2D(y, x, w, b Tensor, pad int)
	// Conv2DBackward writes dw, db and, unless dx is nil, dx.
	Conv2DBackward(dx, dw, db, dy, x, w Tensor, pad int)

	// Batch norm over the last axis of x viewed as (M, C). Training mode uses
	// the batch statistics (biased variance), saves mean and 1/sqrt(var+eps)
	// for the backward pass, and updates the moving statistics Keras-style:
	// moving = moving*momentum + batch*(1-momentum).
	BatchNormTrain(y, saveMean, saveInvStd, x, gamma, beta, movingMean, movingVar Tensor, momentum, eps float32)
	// BatchNormInfer may run in place (y == x).
	BatchNormInfer(y, x, gamma, beta, movingMean, movingVar Tensor, eps float32)
	BatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd Tensor)

	// ReLU: y = max(x, 0), in place allowed. ReLUBackward: dx = dy where
	// y > 0, else 0 (dx may be dy).
	ReLU(y, x Tensor)
	ReLUBackward(dx, dy, y Tensor)
	// Add: y = a + b, element-wise; y may be a or b.
	Add(y, a, b Tensor)

	// MaxPool2x2: 2x2 window, stride 2, floor. x (N, H, W, C), y (N, H/2, W/2, C).
	MaxPool2x2(y, x Tensor)
	// MaxPool2x2Backward routes dy to the first maximum of each window of x;
	// other dx are 0. y is the forward output (cuDNN's pooling backward reads
	// it; the CPU finds the maxima in x).
	MaxPool2x2Backward(dx, dy, x, y Tensor)

	// Dense: y = x w + b. x (N, In), w (In, Out), b (Out), y (N, Out).
	Dense(y, x, w, b Tensor)
	// DenseBackward writes dw, db and, unless dx is nil, dx.
	DenseBackward(dx, dw, db, dy, x, w Tensor)

	// SoftmaxCrossEntropy scores logits (N, C) against int32 labels (N). It
	// adds the summed loss to stats[slot*2] and the number of correct argmax
	// predictions to stats[slot*2+1]; unless dlogits is nil it writes the
	// gradient of the mean loss, (softmax - onehot)/N.
	SoftmaxCrossEntropy(dlogits, stats Tensor, slot int, logits, labels Tensor)
	// Confusion adds one count per example to counts (C, C) at [label][argmax].
	Confusion(counts, logits, labels Tensor)

	// Adam updates params in place, Keras-style:
	//   m += (g-m)(1-b1); v += (g²-v)(1-b2)
	//   p -= lr·sqrt(1-b2^t)/(1-b1^t) · m/(sqrt(v)+eps)
	// where t is the 1-based step. All four tensors have the same length.
	Adam(params, grads, m, v Tensor, step int, lr, beta1, beta2, eps float32)
}

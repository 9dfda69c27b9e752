package model

import (
	"fmt"
	"slices"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// Batch holds the activations of one batch size. A training batch keeps
// every tensor the backward pass reads; an inference batch reuses four large
// buffers (ops run in place where the interface allows it), so evaluation in
// big batches stays small in memory. The intermediates that a backend's
// fused ops never store (relu1, relu4, relu5 with backend.ReLUBatchNorm;
// bnA, bnB with backend.BatchNormAddReLU) are nil in a training batch, and
// the inputs of the block's two convolutions (bn1, reluA) are stored in
// their padded layout where the backend offers backend.PaddedActivations;
// bn4 is nil too with backend.BatchNormMaxPool (only the pool reads it).
type Batch struct {
	N        int
	training bool

	X      backend.Tensor // (N, 28, 28, 1)
	Labels backend.Tensor // (N) int32

	conv1, relu1, bn1    backend.Tensor // (N, 26, 26, 32); bn1 is the block input
	convA, bnA, reluA    backend.Tensor // (N, 26, 26, 32)
	convB, bnB, blockOut backend.Tensor // (N, 26, 26, 32); blockOut = relu(bnB + bn1)
	conv4, relu4, bn4    backend.Tensor // (N, 24, 24, 64)
	pool, flat           backend.Tensor // (N, 12, 12, 64) and its (N, 9216) view
	dense1, relu5, bn5   backend.Tensor // (N, 128)
	Logits               backend.Tensor // (N, 10)

	saved [5]bnSaved // batch statistics of each BN, training only

	// Gradients, training only; ping-pong buffers, see Backward.
	g32     [3]backend.Tensor // (N, 26, 26, 32)
	g64     [2]backend.Tensor // (N, 24, 24, 64)
	gFlat   backend.Tensor    // (N, 9216), gPool its (N, 12, 12, 64) view
	gPool   backend.Tensor
	g128    [2]backend.Tensor // (N, 128)
	gLogits backend.Tensor    // (N, 10)
}

type bnSaved struct{ mean, invStd backend.Tensor }

// NewBatch allocates the activations for batches of n images.
func (m *Model) NewBatch(n int, training bool) (*Batch, error) {
	if n < 1 {
		return nil, fmt.Errorf("model: batch size %d, want ≥ 1", n)
	}
	b := m.b
	k := &Batch{N: n, training: training}
	s, c := ImageSize-2, conv1Filters
	t, c4 := s-2, conv4Filters
	p := t / 2
	big := func() backend.Tensor { return b.Alloc(n, s, s, c) }
	// unless allocates a tensor that the graph stores only when not fused.
	unless := func(fused bool, shape ...int) backend.Tensor {
		if fused {
			return nil
		}
		return b.Alloc(shape...)
	}
	reluBN, bnReLU := m.reluBN != nil, m.bnAddReLU != nil
	// convIn allocates the input of one of the block's 'same' convolutions.
	convIn := big
	if m.padded != nil {
		convIn = func() backend.Tensor { return m.padded.AllocPadded(m.Spec.Config.Kernel/2, n, s, s, c) }
	}
	k.X = b.Alloc(n, ImageSize, ImageSize, 1)
	k.Labels = b.AllocInt32(n)
	if training {
		k.conv1, k.relu1, k.bn1 = big(), unless(reluBN, n, s, s, c), convIn()
		k.convA, k.bnA, k.reluA = big(), unless(bnReLU, n, s, s, c), convIn()
		k.convB, k.bnB, k.blockOut = big(), unless(bnReLU, n, s, s, c), big()
		k.conv4, k.relu4, k.bn4 = b.Alloc(n, t, t, c4), unless(reluBN, n, t, t, c4), unless(m.bnPool != nil, n, t, t, c4)
		k.dense1, k.relu5, k.bn5 = b.Alloc(n, denseUnits), unless(reluBN, n, denseUnits), b.Alloc(n, denseUnits)
		for i, ch := range []int{c, c, c, c4, denseUnits} {
			k.saved[i] = bnSaved{b.Alloc(ch), b.Alloc(ch)}
		}
		k.g32 = [3]backend.Tensor{big(), big(), big()}
		k.g64 = [2]backend.Tensor{b.Alloc(n, t, t, c4), b.Alloc(n, t, t, c4)}
		k.gFlat = b.Alloc(n, p*p*c4)
		k.gPool = b.View(k.gFlat, 0, n, p, p, c4)
		k.g128 = [2]backend.Tensor{b.Alloc(n, denseUnits), b.Alloc(n, denseUnits)}
		k.gLogits = b.Alloc(n, NumClasses)
	} else {
		// Inference: a scratch map, the block input, the block branch, the 64-channel map.
		scratch, blockIn, branch := big(), big(), big()
		k.conv1, k.relu1, k.bn1 = scratch, scratch, blockIn
		k.convA, k.bnA, k.reluA = scratch, scratch, scratch
		k.convB, k.bnB, k.blockOut = branch, branch, branch
		d := b.Alloc(n, t, t, c4)
		k.conv4, k.relu4, k.bn4 = d, d, d
		dn := b.Alloc(n, denseUnits)
		k.dense1, k.relu5, k.bn5 = dn, dn, dn
	}
	k.pool = b.Alloc(n, p, p, c4)
	k.flat = b.View(k.pool, 0, n, p*p*c4)
	k.Logits = b.Alloc(n, NumClasses)
	if err := checkShapes(k, m.Spec); err != nil {
		return nil, err
	}
	return k, b.Sync()
}

// checkShapes compares the batch's activations with the layer table, so a
// graph that disagrees with its declaration fails at start-up.
func checkShapes(k *Batch, s *Spec) error {
	want := map[string]backend.Tensor{
		"conv2d": k.conv1, "batch_normalization": k.bn1,
		"resblock_conv_a": k.convA, "resblock_conv_b": k.convB, "resblock_relu_out": k.blockOut,
		"conv2d_1": k.conv4, "batch_normalization_1": k.bn4, "max_pooling2d": k.pool, "flatten": k.flat,
		"dense": k.dense1, "batch_normalization_2": k.bn5, "dense_1": k.Logits,
	}
	for _, l := range s.Layers {
		t, ok := want[l.Name]
		if !ok || t == nil { // not stored: see Batch
			continue
		}
		if got := t.Shape(); got[0] != k.N || !slices.Equal(got[1:], l.Output) {
			return fmt.Errorf("model: layer %s produces %v, declared (N=%d, %v)", l.Name, got, k.N, l.Output)
		}
	}
	return nil
}

// Forward runs the network on k.X. In training mode batch norm uses the
// batch statistics and updates the moving ones; otherwise it uses the moving ones.
func (m *Model) Forward(k *Batch) {
	if !k.training && m.convInfer != nil {
		m.forwardInferFused(k)
		return
	}
	b, w := m.b, &m.w
	pad := m.Spec.Config.Kernel / 2
	// With the backend's ConvBatchNorm, a training pass has each
	// convolution save the statistics of the batch norm after it, which
	// then only applies them: the statistics are taken in the convolution.
	inConv := k.training && m.convBN != nil
	m.conv(k, inConv, 0, k.conv1, k.X, w.conv1W, w.conv1B, 0, true, w.bn1)
	m.reluBatchNorm(k, inConv, 0, k.bn1, k.relu1, k.conv1, w.bn1)
	// ResNet block; the identity shortcut carries bn1.
	m.conv(k, inConv, 1, k.convA, k.bn1, w.convAW, w.convAB, pad, false, w.bnA)
	m.batchNormAddReLU(k, inConv, 1, k.reluA, k.bnA, k.convA, nil, w.bnA)
	m.conv(k, inConv, 2, k.convB, k.reluA, w.convBW, w.convBB, pad, false, w.bnB)
	m.batchNormAddReLU(k, inConv, 2, k.blockOut, k.bnB, k.convB, k.bn1, w.bnB)
	m.conv(k, inConv, 3, k.conv4, k.blockOut, w.conv4W, w.conv4B, 0, true, w.bn4)
	if k.training && m.bnPool != nil {
		m.bnPool.ReLUBatchNormMaxPool(k.pool, k.conv4, w.bn4.gamma, w.bn4.beta, k.saved[3].mean, k.saved[3].invStd)
	} else {
		m.reluBatchNorm(k, inConv, 3, k.bn4, k.relu4, k.conv4, w.bn4)
		b.MaxPool2x2(k.pool, k.bn4)
	}
	b.Dense(k.dense1, k.flat, w.dense1W, w.dense1B)
	m.reluBatchNorm(k, false, 4, k.bn5, k.relu5, k.dense1, w.bn5)
	b.Dense(k.Logits, k.bn5, w.dense2W, w.dense2B)
}

// forwardInferFused is Forward in inference mode with each convolution
// and the batch norm after it as one op (backend.ConvBatchNormInfer): the
// same ops as the plain sequence, the activations written once.
func (m *Model) forwardInferFused(k *Batch) {
	b, f, w := m.b, m.convInfer, &m.w
	pad := m.Spec.Config.Kernel / 2
	f.Conv2DReLUBatchNormInfer(k.bn1, k.X, w.conv1W, w.conv1B, 0, w.bn1.gamma, w.bn1.beta, w.bn1.movingMean, w.bn1.movingVar, BNEpsilon)
	f.Conv2DBatchNormAddReLUInfer(k.reluA, k.bn1, w.convAW, w.convAB, pad, nil, w.bnA.gamma, w.bnA.beta, w.bnA.movingMean, w.bnA.movingVar, BNEpsilon)
	f.Conv2DBatchNormAddReLUInfer(k.blockOut, k.reluA, w.convBW, w.convBB, pad, k.bn1, w.bnB.gamma, w.bnB.beta, w.bnB.movingMean, w.bnB.movingVar, BNEpsilon)
	f.Conv2DReLUBatchNormInfer(k.bn4, k.blockOut, w.conv4W, w.conv4B, 0, w.bn4.gamma, w.bn4.beta, w.bn4.movingMean, w.bn4.movingVar, BNEpsilon)
	b.MaxPool2x2(k.pool, k.bn4)
	b.Dense(k.dense1, k.flat, w.dense1W, w.dense1B)
	m.reluBatchNorm(k, false, 4, k.bn5, k.relu5, k.dense1, w.bn5)
	b.Dense(k.Logits, k.bn5, w.dense2W, w.dense2B)
}

// conv writes y = conv(x, w) + bias; with saveStats it also saves the
// statistics of batch norm i (of relu(y) with relu) and updates its moving
// ones.
func (m *Model) conv(k *Batch, saveStats bool, i int, y, x, w, bias backend.Tensor, pad int, relu bool, p bnParams) {
	if !saveStats {
		m.b.Conv2D(y, x, w, bias, pad)
		return
	}
	s := k.saved[i]
	m.convBN.Conv2DBatchStats(y, s.mean, s.invStd, x, w, bias, pad, relu, p.movingMean, p.movingVar, BNMomentum, BNEpsilon)
}

// reluBatchNorm writes y = batchnorm(relu(x)); r holds relu(x) where the
// backend has no fused op. With statsSaved the convolution has saved the
// batch statistics (see conv).
func (m *Model) reluBatchNorm(k *Batch, statsSaved bool, i int, y, r, x backend.Tensor, p bnParams) {
	switch f := m.reluBN; {
	case statsSaved:
		m.convBN.ReLUBatchNormApply(y, x, p.gamma, p.beta, k.saved[i].mean, k.saved[i].invStd)
	case f == nil:
		m.b.ReLU(r, x)
		m.batchNorm(k, i, y, r, p)
	case k.training:
		f.ReLUBatchNormTrain(y, k.saved[i].mean, k.saved[i].invStd, x, p.gamma, p.beta, p.movingMean, p.movingVar, BNMomentum, BNEpsilon)
	default:
		f.ReLUBatchNormInfer(y, x, p.gamma, p.beta, p.movingMean, p.movingVar, BNEpsilon)
	}
}

// batchNormAddReLU writes y = relu(batchnorm(x) + z), z nil for none; t
// holds batchnorm(x) where the backend has no fused op. statsSaved as in
// reluBatchNorm.
func (m *Model) batchNormAddReLU(k *Batch, statsSaved bool, i int, y, t, x, z backend.Tensor, p bnParams) {
	switch f := m.bnAddReLU; {
	case statsSaved:
		m.convBN.BatchNormAddReLUApply(y, x, z, p.gamma, p.beta, k.saved[i].mean, k.saved[i].invStd)
	case f == nil:
		m.batchNorm(k, i, t, x, p)
		if z != nil {
			m.b.Add(y, t, z)
			t = y
		}
		m.b.ReLU(y, t)
	case k.training:
		f.BatchNormAddReLUTrain(y, k.saved[i].mean, k.saved[i].invStd, x, z, p.gamma, p.beta, p.movingMean, p.movingVar, BNMomentum, BNEpsilon)
	default:
		f.BatchNormAddReLUInfer(y, x, z, p.gamma, p.beta, p.movingMean, p.movingVar, BNEpsilon)
	}
}

func (m *Model) batchNorm(k *Batch, i int, y, x backend.Tensor, p bnParams) {
	if k.training {
		m.b.BatchNormTrain(y, k.saved[i].mean, k.saved[i].invStd, x, p.gamma, p.beta, p.movingMean, p.movingVar, BNMomentum, BNEpsilon)
		return
	}
	m.b.BatchNormInfer(y, x, p.gamma, p.beta, p.movingMean, p.movingVar, BNEpsilon)
}

// Backward scores the logits of the last training Forward against k.Labels
// (adding loss sum and correct count to stats at slot) and writes every
// parameter gradient. Gradient buffers are reused as soon as they are dead:
// g32[1] carries the gradient at the block's sum until the shortcut adds it.
func (m *Model) Backward(k *Batch, stats backend.Tensor, slot int) {
	if !k.training {
		panic("model: Backward on an inference batch")
	}
	b, w := m.b, &m.w
	pad := m.Spec.Config.Kernel / 2
	b.SoftmaxCrossEntropy(k.gLogits, stats, slot, k.Logits, k.Labels)
	b.DenseBackward(k.g128[0], w.gDense2W, w.gDense2B, k.gLogits, k.bn5, w.dense2W)
	m.reluBatchNormBackward(k, 4, k.g128[1], w.gBN5, k.g128[0], k.dense1, k.relu5, w.bn5)
	b.DenseBackward(k.gFlat, w.gDense1W, w.gDense1B, k.g128[1], k.flat, w.dense1W)
	if m.bnPool != nil {
		// g64[0] is the gradient at bn4's output; conv4's backward pass
		// computes bn4's input gradient from it.
		s4 := k.saved[3]
		m.bnPool.MaxPoolReLUBatchNormBackward(k.g64[0], w.gBN4.gamma, w.gBN4.beta, k.gPool, k.conv4, w.bn4.gamma, w.bn4.beta, s4.mean, s4.invStd)
		m.blockBackwardFused(k, backend.BatchNormGradient{G: k.g64[0], X: k.conv4, ReLUX: true, Gamma: w.bn4.gamma,
			SaveMean: s4.mean, SaveInvStd: s4.invStd, DGamma: w.gBN4.gamma, DBeta: w.gBN4.beta})
		return
	}
	b.MaxPool2x2Backward(k.g64[0], k.gPool, k.bn4, k.pool)
	m.reluBatchNormBackward(k, 3, k.g64[1], w.gBN4, k.g64[0], k.conv4, k.relu4, w.bn4)
	if m.convBNBwd != nil {
		m.blockBackwardFused(k, backend.BatchNormGradient{})
		return
	}
	b.Conv2DBackward(k.g32[0], w.gConv4W, w.gConv4B, k.g64[1], k.blockOut, w.conv4W, 0)
	// Through the block's output ReLU to the sum: g32[1] feeds both branches.
	b.ReLUBackward(k.g32[1], k.g32[0], k.blockOut)
	b.BatchNormBackward(k.g32[0], w.gBNB.gamma, w.gBNB.beta, k.g32[1], k.convB, w.bnB.gamma, k.saved[2].mean, k.saved[2].invStd)
	b.Conv2DBackward(k.g32[2], w.gConvBW, w.gConvBB, k.g32[0], k.reluA, w.convBW, pad)
	b.ReLUBackward(k.g32[2], k.g32[2], k.reluA)
	b.BatchNormBackward(k.g32[0], w.gBNA.gamma, w.gBNA.beta, k.g32[2], k.convA, w.bnA.gamma, k.saved[1].mean, k.saved[1].invStd)
	b.Conv2DBackward(k.g32[2], w.gConvAW, w.gConvAB, k.g32[0], k.bn1, w.convAW, pad)
	b.Add(k.g32[2], k.g32[2], k.g32[1]) // the identity shortcut
	m.reluBatchNormBackward(k, 0, k.g32[0], w.gBN1, k.g32[2], k.conv1, k.relu1, w.bn1)
	b.Conv2DBackward(nil, w.gConv1W, w.gConv1B, k.g32[0], k.X, w.conv1W, 0)
}

// blockBackwardFused is Backward from conv4's gradient g64[1] (or, unless
// from4 is the zero value, bn4's gradient that from4 describes, g64[1]
// then scratch) to the first convolution's weight gradient: the same ops
// as the plain sequence
// in Backward, with each convolution's backward pass taking over the batch
// norm backward before it (its dy is computed as it is padded, never
// stored) and the ReLU backward, the shortcut's add and the batch norm's
// sums after it (on each tile of its input gradient), through
// backend.ConvBackwardBatchNorm. g32[1] ends as in the plain sequence (the
// gradient at the block's sum); g32[0] is the dy scratch.
func (m *Model) blockBackwardFused(k *Batch, from4 backend.BatchNormGradient) {
	f, w := m.convBNBwd, &m.w
	pad := m.Spec.Config.Kernel / 2
	sB, sA, s1 := k.saved[2], k.saved[1], k.saved[0]
	// conv4, then the block's output ReLU, then bnB's sums.
	f.Conv2DBackwardBN(k.g32[1], w.gConv4W, w.gConv4B, k.g64[1], k.blockOut, w.conv4W, 0, from4,
		backend.BatchNormSums{Mask: k.blockOut, X: k.convB, SaveMean: sB.mean, SaveInvStd: sB.invStd, DGamma: w.gBNB.gamma, DBeta: w.gBNB.beta})
	// bnB's input gradient into convB, then reluA, then bnA's sums.
	f.Conv2DBackwardBN(k.g32[2], w.gConvBW, w.gConvBB, k.g32[0], k.reluA, w.convBW, pad,
		backend.BatchNormGradient{G: k.g32[1], X: k.convB, Gamma: w.bnB.gamma, SaveMean: sB.mean, SaveInvStd: sB.invStd, DGamma: w.gBNB.gamma, DBeta: w.gBNB.beta},
		backend.BatchNormSums{Mask: k.reluA, X: k.convA, SaveMean: sA.mean, SaveInvStd: sA.invStd, DGamma: w.gBNA.gamma, DBeta: w.gBNA.beta})
	// bnA's input gradient into convA, then the identity shortcut's add,
	// then bn1's sums (its ReLU comes before it: ReLUX).
	f.Conv2DBackwardBN(k.g32[2], w.gConvAW, w.gConvAB, k.g32[0], k.bn1, w.convAW, pad,
		backend.BatchNormGradient{G: k.g32[2], X: k.convA, Gamma: w.bnA.gamma, SaveMean: sA.mean, SaveInvStd: sA.invStd, DGamma: w.gBNA.gamma, DBeta: w.gBNA.beta},
		backend.BatchNormSums{Addend: k.g32[1], X: k.conv1, ReLUX: true, SaveMean: s1.mean, SaveInvStd: s1.invStd, DGamma: w.gBN1.gamma, DBeta: w.gBN1.beta})
	// bn1's input gradient into conv1.
	f.Conv2DBackwardBN(nil, w.gConv1W, w.gConv1B, k.g32[0], k.X, w.conv1W, 0,
		backend.BatchNormGradient{G: k.g32[2], X: k.conv1, ReLUX: true, Gamma: w.bn1.gamma, SaveMean: s1.mean, SaveInvStd: s1.invStd, DGamma: w.gBN1.gamma, DBeta: w.gBN1.beta},
		backend.BatchNormSums{})
}

// reluBatchNormBackward takes dy back through reluBatchNorm(x) to dx,
// writing the batch norm's parameter gradients g; r holds relu(x) where the
// backend has no fused op.
func (m *Model) reluBatchNormBackward(k *Batch, i int, dx backend.Tensor, g bnGrads, dy, x, r backend.Tensor, p bnParams) {
	s := k.saved[i]
	if f := m.reluBN; f != nil {
		f.ReLUBatchNormBackward(dx, g.gamma, g.beta, dy, x, p.gamma, s.mean, s.invStd)
		return
	}
	m.b.BatchNormBackward(dx, g.gamma, g.beta, dy, r, p.gamma, s.mean, s.invStd)
	m.b.ReLUBackward(dx, dx, r)
}

// TrainStep runs forward, backward and one Adam update on a gathered batch.
func (m *Model) TrainStep(k *Batch, stats backend.Tensor, slot int, lr float32) {
	m.Forward(k)
	m.Backward(k, stats, slot)
	m.step++
	m.b.Adam(m.params, m.grads, m.adamM, m.adamV, m.step, lr, AdamBeta1, AdamBeta2, AdamEpsilon)
}

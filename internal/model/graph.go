package model

import (
	"fmt"
	"slices"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// Batch holds the activations of one batch size: each unit's output, what
// each conv unit keeps for its backward pass (as the backend allocates it)
// and, in training, the gradients. A unit's output that a convolution
// reads is allocated for that convolution's padding.
type Batch struct {
	N        int
	training bool

	X      backend.Tensor // (N, 28, 28, 1)
	Labels backend.Tensor // (N) int32

	bn1, reluA, blockOut backend.Tensor // (N, 26, 26, 32); bn1 is the block input, blockOut = relu(bnB + bn1)
	pool, flat           backend.Tensor // (N, 12, 12, 64) and its (N, 9216) view
	bn5                  backend.Tensor // (N, 128)
	Logits               backend.Tensor // (N, 10)

	s1, sA, sB, s4 backend.ConvState // conv1, convA, convB (N, 26, 26, 32); conv4 (N, 24, 24, 64)
	dense1         backend.Tensor    // (N, 128): dense's output, training only

	// Training only: where each conv unit's input gradient goes (the unit
	// that wrote its x), and the gradients; ping-pong buffers, see Backward.
	inB, inA, in1 backend.ConvInput
	g32           [3]backend.Tensor // (N, 26, 26, 32)
	g64           [2]backend.Tensor // (N, 24, 24, 64)
	gFlat         backend.Tensor    // (N, 9216), gPool its (N, 12, 12, 64) view
	gPool         backend.Tensor
	g128          [2]backend.Tensor // (N, 128)
	gLogits       backend.Tensor    // (N, 10)
}

// NewBatch allocates the activations for batches of n images.
func (m *Model) NewBatch(n int, training bool) (*Batch, error) {
	if n < 1 {
		return nil, fmt.Errorf("model: batch size %d, want ≥ 1", n)
	}
	b, l := m.b, &m.layers
	k := &Batch{N: n, training: training}
	s, c := ImageSize-2, conv1Filters
	t, c4 := s-2, conv4Filters
	p := t / 2
	k.X = b.Alloc(n, ImageSize, ImageSize, 1)
	k.Labels = b.AllocInt32(n)
	k.bn1 = b.AllocActivation(l.convA.unit.Pad, n, s, s, c, training)
	k.reluA = b.AllocActivation(l.convB.unit.Pad, n, s, s, c, training)
	k.blockOut = b.AllocActivation(l.conv4.unit.Pad, n, s, s, c, training)
	k.pool = b.Alloc(n, p, p, c4)
	k.flat = b.View(k.pool, 0, n, p*p*c4)
	k.bn5 = b.Alloc(n, denseUnits)
	k.Logits = b.Alloc(n, NumClasses)
	k.s1 = b.AllocConvState(l.conv1.unit, n, s, s, c, training)
	k.sA = b.AllocConvState(l.convA.unit, n, s, s, c, training)
	k.sB = b.AllocConvState(l.convB.unit, n, s, s, c, training)
	k.s4 = b.AllocConvState(l.conv4.unit, n, t, t, c4, training)
	if training {
		k.dense1 = b.Alloc(n, denseUnits)
		k.g32 = [3]backend.Tensor{b.Alloc(n, s, s, c), b.Alloc(n, s, s, c), b.Alloc(n, s, s, c)}
		k.inB = backend.ConvInput{Unit: l.convB.unit, Layer: &l.convB.Layer, State: k.sB, Y: k.blockOut}
		k.inA = backend.ConvInput{Unit: l.convA.unit, Layer: &l.convA.Layer, State: k.sA, Y: k.reluA}
		// The identity shortcut carries bn1 to convB's sum: its gradient
		// there, g32[1], adds to the one through convA.
		k.in1 = backend.ConvInput{Unit: l.conv1.unit, Layer: &l.conv1.Layer, State: k.s1, Y: k.bn1, Addend: k.g32[1]}
		k.g64 = [2]backend.Tensor{b.Alloc(n, t, t, c4), b.Alloc(n, t, t, c4)}
		k.gFlat = b.Alloc(n, p*p*c4)
		k.gPool = b.View(k.gFlat, 0, n, p, p, c4)
		k.g128 = [2]backend.Tensor{b.Alloc(n, denseUnits), b.Alloc(n, denseUnits)}
		k.gLogits = b.Alloc(n, NumClasses)
	}
	if err := checkShapes(k, m.Spec); err != nil {
		return nil, err
	}
	return k, b.Sync()
}

// checkShapes compares the batch's activations with the layer table, so a
// graph that disagrees with its declaration fails at start-up.
func checkShapes(k *Batch, s *Spec) error {
	want := map[string]backend.Tensor{
		"conv2d": k.s1.Pre, "batch_normalization": k.bn1,
		"resblock_conv_a": k.sA.Pre, "resblock_relu_a": k.reluA, "resblock_conv_b": k.sB.Pre, "resblock_relu_out": k.blockOut,
		"conv2d_1": k.s4.Pre, "max_pooling2d": k.pool, "flatten": k.flat,
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
	b, l, tr := m.b, &m.layers, k.training
	b.ConvUnitForward(k.bn1, k.X, nil, l.conv1.unit, &l.conv1.Layer, k.s1, tr)
	// The ResNet block; the identity shortcut carries bn1.
	b.ConvUnitForward(k.reluA, k.bn1, nil, l.convA.unit, &l.convA.Layer, k.sA, tr)
	b.ConvUnitForward(k.blockOut, k.reluA, k.bn1, l.convB.unit, &l.convB.Layer, k.sB, tr)
	b.ConvUnitForward(k.pool, k.blockOut, nil, l.conv4.unit, &l.conv4.Layer, k.s4, tr)
	b.DenseUnitForward(k.bn5, k.dense1, k.flat, l.dense1.unit, &l.dense1.Layer, tr)
	b.Dense(k.Logits, k.bn5, l.dense2.W, l.dense2.B)
}

// Backward scores the logits of the last training Forward against k.Labels
// (adding loss sum and correct count to stats at slot) and writes every
// parameter gradient. Each conv unit's backward pass starts from the
// gradient at its batch norm's output: g64[0] for conv4, g32[1] for convB
// (the block's sum, which the shortcut carries on to bn1), g32[2] for convA
// and conv1; g64[1] and g32[0] are the scratch.
func (m *Model) Backward(k *Batch, stats backend.Tensor, slot int) {
	if !k.training {
		panic("model: Backward on an inference batch")
	}
	b, l := m.b, &m.layers
	b.SoftmaxCrossEntropy(k.gLogits, stats, slot, k.Logits, k.Labels)
	b.DenseBackward(k.g128[0], l.dense2.DW, l.dense2.DB, k.gLogits, k.bn5, l.dense2.W)
	b.DenseUnitBackward(k.gFlat, k.g128[1], k.g128[0], k.dense1, k.flat, l.dense1.unit, &l.dense1.Layer)
	b.ConvUnitOutputBackward(k.g64[0], k.gPool, k.pool, l.conv4.unit, &l.conv4.Layer, k.s4)
	b.ConvUnitBackward(k.g32[1], k.g64[1], k.g64[0], k.blockOut, l.conv4.unit, &l.conv4.Layer, k.s4, &k.inB)
	b.ConvUnitBackward(k.g32[2], k.g32[0], k.g32[1], k.reluA, l.convB.unit, &l.convB.Layer, k.sB, &k.inA)
	b.ConvUnitBackward(k.g32[2], k.g32[0], k.g32[2], k.bn1, l.convA.unit, &l.convA.Layer, k.sA, &k.in1)
	b.ConvUnitBackward(nil, k.g32[0], k.g32[2], k.X, l.conv1.unit, &l.conv1.Layer, k.s1, nil)
}

// TrainStep runs forward, backward and one Adam update on a gathered batch.
func (m *Model) TrainStep(k *Batch, stats backend.Tensor, slot int, lr float32) {
	m.Forward(k)
	m.Backward(k, stats, slot)
	m.step++
	m.b.Adam(m.params, m.grads, m.adamM, m.adamV, m.step, lr, AdamBeta1, AdamBeta2, AdamEpsilon)
}

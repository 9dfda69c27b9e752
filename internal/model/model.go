package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// Model owns the parameters of a Spec on one backend. Trainable parameters
// live in one flat buffer (and so do their gradients and Adam moments), so
// Adam is one op over all of them; each parameter is a view into it.
type Model struct {
	Spec *Spec
	b    backend.Backend

	params, grads, adamM, adamV backend.Tensor // (trainable count) flat
	state                       backend.Tensor // (non-trainable count) flat: BN moving statistics
	views                       map[string]backend.Tensor
	gradViews                   map[string]backend.Tensor
	step                        int // Adam's t: optimizer steps taken

	w weights

	// The backend's fused ops, nil where it has none (backend/fused.go).
	reluBN    backend.ReLUBatchNorm
	bnAddReLU backend.BatchNormAddReLU
	convBN    backend.ConvBatchNorm         // only where reluBN and bnAddReLU are set
	convBNBwd backend.ConvBackwardBatchNorm // only where reluBN is set
	convInfer backend.ConvBatchNormInfer    // only where reluBN and bnAddReLU are set
	padded    backend.PaddedActivations     // only where convBN and convBNBwd are set
	bnPool    backend.BatchNormMaxPool      // only where convBN and convBNBwd are set
}

// weights names the views the graph uses, with their shapes.
type weights struct {
	conv1W, conv1B     backend.Tensor // (3,3,1,32), (32)
	bn1                bnParams       // 32
	convAW, convAB     backend.Tensor // (k,k,32,32), (32)
	bnA                bnParams       // 32
	convBW, convBB     backend.Tensor // (k,k,32,32), (32)
	bnB                bnParams       // 32
	conv4W, conv4B     backend.Tensor // (3,3,32,64), (64)
	bn4                bnParams       // 64
	dense1W, dense1B   backend.Tensor // (9216,128), (128)
	bn5                bnParams       // 128
	dense2W, dense2B   backend.Tensor // (128,10), (10)
	gConv1W, gConv1B   backend.Tensor
	gConvAW, gConvAB   backend.Tensor
	gConvBW, gConvBB   backend.Tensor
	gConv4W, gConv4B   backend.Tensor
	gDense1W, gDense1B backend.Tensor
	gDense2W, gDense2B backend.Tensor
	gBN1, gBNA, gBNB   bnGrads
	gBN4, gBN5         bnGrads
}

type bnParams struct{ gamma, beta, movingMean, movingVar backend.Tensor }
type bnGrads struct{ gamma, beta backend.Tensor }

// New allocates the parameters of spec on b (zeroed; call Init or Load).
func New(b backend.Backend, spec *Spec) (*Model, error) {
	_, trainable, nonTrainable := spec.Counts()
	m := &Model{
		Spec: spec, b: b,
		params: b.Alloc(trainable), grads: b.Alloc(trainable),
		adamM: b.Alloc(trainable), adamV: b.Alloc(trainable),
		state:     b.Alloc(nonTrainable),
		views:     map[string]backend.Tensor{},
		gradViews: map[string]backend.Tensor{},
	}
	m.reluBN, _ = b.(backend.ReLUBatchNorm)
	m.bnAddReLU, _ = b.(backend.BatchNormAddReLU)
	if cb, ok := b.(backend.ConvBatchNorm); ok && m.reluBN != nil && m.bnAddReLU != nil {
		m.convBN = cb
	}
	if cb, ok := b.(backend.ConvBackwardBatchNorm); ok && m.reluBN != nil {
		m.convBNBwd = cb
	}
	if ci, ok := b.(backend.ConvBatchNormInfer); ok && m.reluBN != nil && m.bnAddReLU != nil {
		m.convInfer = ci
	}
	if pa, ok := b.(backend.PaddedActivations); ok && m.convBN != nil && m.convBNBwd != nil {
		m.padded = pa
	}
	if bp, ok := b.(backend.BatchNormMaxPool); ok && m.convBN != nil && m.convBNBwd != nil {
		m.bnPool = bp
	}
	offT, offS := 0, 0
	for _, p := range spec.Params {
		if p.Trainable {
			m.views[p.Name] = b.View(m.params, offT, p.Shape...)
			m.gradViews[p.Name] = b.View(m.grads, offT, p.Shape...)
			offT += p.Size()
		} else {
			m.views[p.Name] = b.View(m.state, offS, p.Shape...)
			offS += p.Size()
		}
	}
	v, g := m.views, m.gradViews
	bn := func(layer string) bnParams {
		return bnParams{v[layer+"/gamma"], v[layer+"/beta"], v[layer+"/moving_mean"], v[layer+"/moving_variance"]}
	}
	bnG := func(layer string) bnGrads { return bnGrads{g[layer+"/gamma"], g[layer+"/beta"]} }
	m.w = weights{
		conv1W: v["conv2d/kernel"], conv1B: v["conv2d/bias"], bn1: bn("batch_normalization"),
		convAW: v["resblock_conv_a/kernel"], convAB: v["resblock_conv_a/bias"], bnA: bn("resblock_bn_a"),
		convBW: v["resblock_conv_b/kernel"], convBB: v["resblock_conv_b/bias"], bnB: bn("resblock_bn_b"),
		conv4W: v["conv2d_1/kernel"], conv4B: v["conv2d_1/bias"], bn4: bn("batch_normalization_1"),
		dense1W: v["dense/kernel"], dense1B: v["dense/bias"], bn5: bn("batch_normalization_2"),
		dense2W: v["dense_1/kernel"], dense2B: v["dense_1/bias"],
		gConv1W: g["conv2d/kernel"], gConv1B: g["conv2d/bias"],
		gConvAW: g["resblock_conv_a/kernel"], gConvAB: g["resblock_conv_a/bias"],
		gConvBW: g["resblock_conv_b/kernel"], gConvBB: g["resblock_conv_b/bias"],
		gConv4W: g["conv2d_1/kernel"], gConv4B: g["conv2d_1/bias"],
		gDense1W: g["dense/kernel"], gDense1B: g["dense/bias"],
		gDense2W: g["dense_1/kernel"], gDense2B: g["dense_1/bias"],
		gBN1: bnG("batch_normalization"), gBNA: bnG("resblock_bn_a"), gBNB: bnG("resblock_bn_b"),
		gBN4: bnG("batch_normalization_1"), gBN5: bnG("batch_normalization_2"),
	}
	for name, t := range m.views {
		if t == nil {
			return nil, fmt.Errorf("model: parameter %s has no view", name)
		}
	}
	return m, nil
}

// Backend is the backend the model lives on.
func (m *Model) Backend() backend.Backend { return m.b }

// Steps is the number of optimizer steps taken.
func (m *Model) Steps() int { return m.step }

// Init draws the Keras initial values from seed: Glorot-uniform kernels
// (limit sqrt(6/(fan_in+fan_out))), zero biases and betas, unit gammas,
// moving mean 0 and moving variance 1. Adam's moments restart at zero.
func (m *Model) Init(seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x6d6e697374))
	values := map[string][]float32{}
	for _, p := range m.Spec.Params {
		data := make([]float32, p.Size())
		switch p.Init {
		case Ones:
			for i := range data {
				data[i] = 1
			}
		case GlorotUniform:
			limit := math.Sqrt(6 / float64(p.FanIn+p.FanOut))
			for i := range data {
				data[i] = float32((rng.Float64()*2 - 1) * limit)
			}
		}
		values[p.Name] = data
	}
	m.b.Fill(m.adamM, 0)
	m.b.Fill(m.adamV, 0)
	m.step = 0
	return m.SetValues(values)
}

// SetValues uploads named parameter values; every parameter must be given
// with exactly its size.
func (m *Model) SetValues(values map[string][]float32) error {
	for _, p := range m.Spec.Params {
		data, ok := values[p.Name]
		if !ok {
			return fmt.Errorf("model: no value for parameter %s", p.Name)
		}
		if len(data) != p.Size() {
			return fmt.Errorf("model: parameter %s has %d values, want %d (shape %v)", p.Name, len(data), p.Size(), p.Shape)
		}
		if err := m.b.Upload(m.views[p.Name], data); err != nil {
			return fmt.Errorf("model: upload %s: %w", p.Name, err)
		}
	}
	return m.b.Sync()
}

// Values downloads every parameter (trainable and moving statistics) by name.
func (m *Model) Values() (map[string][]float32, error) {
	if err := m.b.Sync(); err != nil {
		return nil, err
	}
	out := map[string][]float32{}
	for _, p := range m.Spec.Params {
		data := make([]float32, p.Size())
		if err := m.b.Download(data, m.views[p.Name]); err != nil {
			return nil, fmt.Errorf("model: download %s: %w", p.Name, err)
		}
		out[p.Name] = data
	}
	return out, nil
}

// Gradients downloads the gradients of the last backward pass, by name.
func (m *Model) Gradients() (map[string][]float32, error) {
	if err := m.b.Sync(); err != nil {
		return nil, err
	}
	out := map[string][]float32{}
	for _, p := range m.Spec.Params {
		if !p.Trainable {
			continue
		}
		data := make([]float32, p.Size())
		if err := m.b.Download(data, m.gradViews[p.Name]); err != nil {
			return nil, err
		}
		out[p.Name] = data
	}
	return out, nil
}

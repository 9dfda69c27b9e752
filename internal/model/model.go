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

	layers layers
}

// layers are the graph's units, each with its parameters, gradients and
// saved batch statistics, bound to the table by name (bindLayers).
type layers struct {
	conv1        convUnit      // (3,3,1,32): conv → ReLU → BN, the block input
	convA, convB convUnit      // (k,k,32,32): the ResNet block, 'same'
	conv4        convUnit      // (3,3,32,64): conv → ReLU → BN → pool
	dense1       denseUnit     // (9216,128)
	dense2       backend.Layer // (128,10): the logits; W, B, DW and DB only
}

type convUnit struct {
	unit backend.Conv
	backend.Layer
}

type denseUnit struct {
	unit backend.Dense
	backend.Layer
}

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
	var err error
	if m.layers, err = m.bindLayers(); err != nil {
		return nil, err
	}
	return m, nil
}

// bindLayers builds the graph's units from the table: each takes its
// parameters by layer name, and its padding from the table's row.
func (m *Model) bindLayers() (layers, error) {
	bn := backend.BatchNorm{Momentum: BNMomentum, Eps: BNEpsilon}
	t := binder{m: m, used: map[string]bool{}}
	l := layers{
		conv1:  t.conv("conv2d", "batch_normalization", backend.Conv{PreReLU: true, BN: bn}),
		convA:  t.conv("resblock_conv_a", "resblock_bn_a", backend.Conv{PostReLU: true, BN: bn}),
		convB:  t.conv("resblock_conv_b", "resblock_bn_b", backend.Conv{PostReLU: true, BN: bn}),
		conv4:  t.conv("conv2d_1", "batch_normalization_1", backend.Conv{PreReLU: true, Pool: true, BN: bn}),
		dense1: denseUnit{backend.Dense{BN: bn}, t.layer("dense", "batch_normalization_2")},
		dense2: t.layer("dense_1", ""),
	}
	return l, t.done()
}

// binder hands out the table's parameters by layer name, each once, and
// keeps the first name the table lacks (done reports it, or a parameter
// no layer took).
type binder struct {
	m    *Model
	used map[string]bool
	err  error
}

// param is the parameter layer/name and its gradient (nil if not trainable).
func (t *binder) param(layer, name string) (v, g backend.Tensor) {
	full := layer + "/" + name
	v, ok := t.m.views[full]
	if !ok || t.used[full] {
		if t.err == nil {
			t.err = fmt.Errorf("model: the graph asks for parameter %s, which the table has not (or gave out already)", full)
		}
		return nil, nil
	}
	t.used[full] = true
	return v, t.m.gradViews[full]
}

// layer binds a kernel and bias (of layer linear) and, unless bn is "",
// the batch norm after them, with buffers for its batch statistics.
func (t *binder) layer(linear, bn string) backend.Layer {
	var l backend.Layer
	l.W, l.DW = t.param(linear, "kernel")
	l.B, l.DB = t.param(linear, "bias")
	if bn == "" {
		return l
	}
	l.Gamma, l.DGamma = t.param(bn, "gamma")
	l.Beta, l.DBeta = t.param(bn, "beta")
	l.MovingMean, _ = t.param(bn, "moving_mean")
	l.MovingVar, _ = t.param(bn, "moving_variance")
	if l.Gamma != nil {
		l.Mean, l.InvStd = t.m.b.Alloc(l.Gamma.Len()), t.m.b.Alloc(l.Gamma.Len())
	}
	return l
}

// conv binds a conv unit; its padding is the table's.
func (t *binder) conv(conv, bn string, u backend.Conv) convUnit {
	row, ok := t.m.Spec.Layer(conv)
	if !ok && t.err == nil {
		t.err = fmt.Errorf("model: the graph asks for layer %s, which the table has not", conv)
	}
	u.Pad = row.Pad
	return convUnit{u, t.layer(conv, bn)}
}

func (t *binder) done() error {
	if t.err != nil {
		return t.err
	}
	for _, p := range t.m.Spec.Params {
		if !t.used[p.Name] {
			return fmt.Errorf("model: parameter %s of the table is in no layer of the graph", p.Name)
		}
	}
	return nil
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

// Optimizer is Adam's state: the first and second moments of every
// trainable parameter (flat, in table order) and the step count t.
type Optimizer struct {
	M, V []float32
	Step int
}

// OptimizerState downloads Adam's state, so that a run can continue later.
func (m *Model) OptimizerState() (*Optimizer, error) {
	_, trainable, _ := m.Spec.Counts()
	o := &Optimizer{M: make([]float32, trainable), V: make([]float32, trainable), Step: m.step}
	if err := m.b.Download(o.M, m.adamM); err != nil {
		return nil, err
	}
	if err := m.b.Download(o.V, m.adamV); err != nil {
		return nil, err
	}
	return o, m.b.Sync()
}

// SetOptimizerState restores what OptimizerState returned.
func (m *Model) SetOptimizerState(o *Optimizer) error {
	_, trainable, _ := m.Spec.Counts()
	if len(o.M) != trainable || len(o.V) != trainable || o.Step < 0 {
		return fmt.Errorf("model: optimizer state of %d and %d moments at step %d, want %d each", len(o.M), len(o.V), o.Step, trainable)
	}
	if err := m.b.Upload(m.adamM, o.M); err != nil {
		return err
	}
	if err := m.b.Upload(m.adamV, o.V); err != nil {
		return err
	}
	m.step = o.Step
	return m.b.Sync()
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

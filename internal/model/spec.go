// Package model declares the seed's MNIST CNN with a ResNet block once: its
// parameter table (names, shapes, initializers), its layer table (for the
// summary) and its forward and backward passes written against the backend
// interface. It never imports a backend.
package model

import (
	"fmt"
)

// Fixed by the data and the seed's architecture.
const (
	ImageSize  = 28
	NumClasses = 10

	conv1Filters = 32 // stem and ResNet block width
	conv4Filters = 64
	denseUnits   = 128

	// Keras BatchNormalization and Adam defaults.
	BNMomentum   = 0.99
	BNEpsilon    = 1e-3
	AdamBeta1    = 0.9
	AdamBeta2    = 0.999
	AdamEpsilon  = 1e-7
	DefaultLR    = 1e-3
	DefaultBatch = 64
)

// MaxKernel is the largest block kernel a 26x26 map takes.
const MaxKernel = 25

// Config is everything that changes the graph.
type Config struct {
	Kernel int `json:"kernel"` // kernel size of the ResNet block's two convolutions (odd)
}

// Validate rejects graphs the block cannot build: 'same' padding of k/2 keeps
// the size only for odd k, and the 26x26 map bounds k from above.
func (c Config) Validate() error {
	if c.Kernel < 1 || c.Kernel%2 == 0 {
		return fmt.Errorf("kernel size %d: must be an odd number ≥ 1 (the seed uses 3 or 5)", c.Kernel)
	}
	if c.Kernel > MaxKernel {
		return fmt.Errorf("kernel size %d: must be at most %d for a 26x26 feature map", c.Kernel, MaxKernel)
	}
	return nil
}

// Init names how a parameter starts.
type Init int

const (
	Zeros         Init = iota
	Ones               // BN gamma, moving variance
	GlorotUniform      // Keras' default kernel initializer
)

// Param is one row of the parameter table.
type Param struct {
	Name      string
	Shape     []int
	Init      Init
	Trainable bool
	// FanIn and FanOut for Glorot; zero for other initializers.
	FanIn, FanOut int
}

// Size is the number of elements.
func (p Param) Size() int {
	n := 1
	for _, d := range p.Shape {
		n *= d
	}
	return n
}

// Layer is one row of the summary table.
type Layer struct {
	Name, Type string
	Output     []int    // without the batch axis
	Params     []string // names of its parameters, in table order
	Pad        int      // Conv2D: zero pixels each side of its input (0 'valid', k/2 'same')
}

// Spec is the declared model: the layers, and the parameters in the order
// every checkpoint and flat buffer uses.
type Spec struct {
	Config Config
	Layers []Layer
	Params []Param
}

// Declare builds the table for cfg. Shapes of the feature maps follow from
// the seed: valid 3x3 stem (26x26), 'same' block, valid 3x3 (24x24), pool (12x12).
func Declare(cfg Config) (*Spec, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Spec{Config: cfg}
	k := cfg.Kernel
	stem := ImageSize - 2 // 26
	mid := stem - 2       // 24
	pooled := mid / 2     // 12

	s.layer("input", "InputLayer", []int{ImageSize, ImageSize, 1})
	s.conv("conv2d", 3, 0, 1, conv1Filters, []int{stem, stem, conv1Filters})
	s.layer("activation", "ReLU", []int{stem, stem, conv1Filters})
	s.batchNorm("batch_normalization", conv1Filters, []int{stem, stem, conv1Filters})
	s.conv("resblock_conv_a", k, k/2, conv1Filters, conv1Filters, []int{stem, stem, conv1Filters})
	s.batchNorm("resblock_bn_a", conv1Filters, []int{stem, stem, conv1Filters})
	s.layer("resblock_relu_a", "ReLU", []int{stem, stem, conv1Filters})
	s.conv("resblock_conv_b", k, k/2, conv1Filters, conv1Filters, []int{stem, stem, conv1Filters})
	s.batchNorm("resblock_bn_b", conv1Filters, []int{stem, stem, conv1Filters})
	s.layer("resblock_add", "Add", []int{stem, stem, conv1Filters})
	s.layer("resblock_relu_out", "ReLU", []int{stem, stem, conv1Filters})
	s.conv("conv2d_1", 3, 0, conv1Filters, conv4Filters, []int{mid, mid, conv4Filters})
	s.layer("activation_1", "ReLU", []int{mid, mid, conv4Filters})
	s.batchNorm("batch_normalization_1", conv4Filters, []int{mid, mid, conv4Filters})
	s.layer("max_pooling2d", "MaxPooling2D", []int{pooled, pooled, conv4Filters})
	s.layer("flatten", "Flatten", []int{pooled * pooled * conv4Filters})
	s.dense("dense", pooled*pooled*conv4Filters, denseUnits)
	s.layer("activation_2", "ReLU", []int{denseUnits})
	s.batchNorm("batch_normalization_2", denseUnits, []int{denseUnits})
	s.dense("dense_1", denseUnits, NumClasses)
	s.layer("softmax", "Softmax", []int{NumClasses})
	return s, nil
}

func (s *Spec) layer(name, typ string, out []int, params ...Param) {
	l := Layer{Name: name, Type: typ, Output: out}
	for _, p := range params {
		p.Name = name + "/" + p.Name
		s.Params = append(s.Params, p)
		l.Params = append(l.Params, p.Name)
	}
	s.Layers = append(s.Layers, l)
}

func (s *Spec) conv(name string, k, pad, in, out int, outShape []int) {
	s.layer(name, "Conv2D", outShape,
		Param{Name: "kernel", Shape: []int{k, k, in, out}, Init: GlorotUniform, Trainable: true, FanIn: k * k * in, FanOut: k * k * out},
		Param{Name: "bias", Shape: []int{out}, Init: Zeros, Trainable: true})
	s.Layers[len(s.Layers)-1].Pad = pad
}

func (s *Spec) dense(name string, in, out int) {
	s.layer(name, "Dense", []int{out},
		Param{Name: "kernel", Shape: []int{in, out}, Init: GlorotUniform, Trainable: true, FanIn: in, FanOut: out},
		Param{Name: "bias", Shape: []int{out}, Init: Zeros, Trainable: true})
}

func (s *Spec) batchNorm(name string, c int, outShape []int) {
	s.layer(name, "BatchNormalization", outShape,
		Param{Name: "gamma", Shape: []int{c}, Init: Ones, Trainable: true},
		Param{Name: "beta", Shape: []int{c}, Init: Zeros, Trainable: true},
		Param{Name: "moving_mean", Shape: []int{c}, Init: Zeros},
		Param{Name: "moving_variance", Shape: []int{c}, Init: Ones})
}

// Layer is the row of the layer table named name.
func (s *Spec) Layer(name string) (Layer, bool) {
	for _, l := range s.Layers {
		if l.Name == name {
			return l, true
		}
	}
	return Layer{}, false
}

// Counts returns total, trainable and non-trainable parameter counts.
func (s *Spec) Counts() (total, trainable, nonTrainable int) {
	for _, p := range s.Params {
		if p.Trainable {
			trainable += p.Size()
		} else {
			nonTrainable += p.Size()
		}
	}
	return trainable + nonTrainable, trainable, nonTrainable
}

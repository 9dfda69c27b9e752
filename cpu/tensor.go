package cpu

import (
	"fmt"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// Tensor is a host array. Exactly one of f and i is set, by element type.
type Tensor struct {
	shape []int
	f     []float32
	i     []int32
	// pad > 0: f holds each image inside a border of pad zero pixels, the
	// direct convolution's padded layout (allocPadded, padded.go); only
	// the ops that say so take such a tensor.
	pad int
}

func (t *Tensor) Shape() []int { return t.shape }
func (t *Tensor) Len() int     { return numElements(t.shape) }

func numElements(shape []int) int { return backend.Elements(shape) }

func checkShape(shape []int) {
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("cpu: negative dimension in shape %v", shape))
		}
	}
}

// f32 and i32 unwrap a backend tensor; passing another backend's tensor is a
// programming error, not a run-time condition, hence the panic.
func f32(t backend.Tensor) []float32 {
	c := asTensor(t)
	if c.pad != 0 {
		panic(fmt.Sprintf("cpu: a tensor stored padded (%v, pad %d) reached an op that reads the plain layout", c.shape, c.pad))
	}
	return c.f
}

func i32(t backend.Tensor) []int32 {
	c, ok := t.(*Tensor)
	if !ok || c.i == nil && c.Len() > 0 {
		panic(fmt.Sprintf("cpu: want an int32 cpu tensor, got %T", t))
	}
	return c.i
}

//go:build cgo

package gpu

import (
	"fmt"

	"github.com/mnistgpu/mnistgpu/gpu/internal/cuda"
	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// Tensor is device memory: float32 unless allocated with AllocInt32. Views
// share their parent's memory at an offset.
type Tensor struct {
	ptr   cuda.DevicePtr
	shape []int
	isInt bool
}

func (t *Tensor) Shape() []int { return t.shape }
func (t *Tensor) Len() int     { return numElements(t.shape) }

func numElements(shape []int) int { return backend.Elements(shape) }

// dev unwraps a backend tensor; another backend's tensor is a programming
// error, hence the panic (as in the CPU backend).
func dev(t backend.Tensor) *Tensor {
	g, ok := t.(*Tensor)
	if !ok {
		panic(fmt.Sprintf("gpu: want a cuda tensor, got %T", t))
	}
	return g
}

// ptr is t's device address, or 0 (a null pointer) for a nil tensor.
func ptr(t backend.Tensor) cuda.DevicePtr {
	if t == nil {
		return 0
	}
	return dev(t).ptr
}

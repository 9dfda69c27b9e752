// Package cpu is the reference backend: plain Go over host memory, used
// wherever no GPU is, and the yardstick every other backend is tested against.
package cpu

import (
	"fmt"
	"os"
	"runtime"
	"slices"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

func init() {
	backend.Register("cpu", func() (backend.Backend, error) {
		if kernelChoiceErr != nil {
			return nil, kernelChoiceErr
		}
		return New(), nil
	})
}

// Backend runs every op on the host, in parallel across GOMAXPROCS.
type Backend struct {
	err error // first error since the last Sync

	pool *workerPool
	// Each engine's scratch buffers and the argument structs of its
	// parallel loops, declared in its own file. A buffer grows once to
	// the largest shape (grown) and a task struct is reused by every call,
	// so steady-state steps do not allocate.
	directWork  directWork  // direct.go
	gemmWork    gemmWork    // gemm.go
	bnWork      bnWork      // batchnorm.go
	poolWork    poolWork    // pool.go
	convWork    convWork    // conv.go
	elementWork elementWork // elementwise.go
}

// New returns a CPU backend with one worker per GOMAXPROCS.
func New() *Backend { return newWithPool(newWorkerPool()) }

func newWithPool(p *workerPool) *Backend {
	c := &Backend{pool: p}
	// Backends that are dropped without Close (tests) still stop their workers.
	runtime.AddCleanup(c, func(p *workerPool) { p.close() }, c.pool)
	return c
}

func (c *Backend) Name() string { return "cpu" }

func (c *Backend) Device() string {
	forced := ""
	if v := os.Getenv(KernelEnv); v != "" {
		forced = fmt.Sprintf(" (%s=%s)", KernelEnv, v)
	}
	return fmt.Sprintf("CPU %s/%s, %d threads, %s GEMM kernel%s", runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), kernelName(), forced)
}

func (c *Backend) Sync() error {
	err := c.err
	c.err = nil
	return err
}

// Close stops the workers and drops the buffers; the backend is unusable after.
func (c *Backend) Close() error {
	c.pool.close()
	c.directWork, c.gemmWork, c.bnWork = directWork{}, gemmWork{}, bnWork{}
	c.poolWork, c.convWork, c.elementWork = poolWork{}, convWork{}, elementWork{}
	return nil
}

// fail records the first error; later ones add nothing the user can act on.
func (c *Backend) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("cpu: "+format, args...)
	}
}

func (c *Backend) Alloc(shape ...int) backend.Tensor {
	checkShape(shape)
	n := numElements(shape)
	return &Tensor{shape: slices.Clone(shape), f: make([]float32, n, n+allocTail)}
}

// allocTail is how many zero elements a float32 tensor has past its end,
// never written: enough for the reads past the last image that the direct
// convolution's weight gradient makes without padding (up to KW-1 pixels), so it
// reads an unpadded input where it stands rather than copying it.
const allocTail = 4096

func (c *Backend) AllocInt32(shape ...int) backend.Tensor {
	checkShape(shape)
	return &Tensor{shape: slices.Clone(shape), i: make([]int32, numElements(shape))}
}

func (c *Backend) View(t backend.Tensor, offset int, shape ...int) backend.Tensor {
	checkShape(shape)
	src := t.(*Tensor)
	if src.pad != 0 {
		panic(fmt.Sprintf("cpu: a view of a tensor stored padded (%v, pad %d): its elements are not contiguous", src.shape, src.pad))
	}
	n := numElements(shape)
	if offset < 0 || offset+n > src.Len() {
		panic(fmt.Sprintf("cpu: view [%d, %d) outside a tensor of %d elements", offset, offset+n, src.Len()))
	}
	v := &Tensor{shape: slices.Clone(shape)}
	if src.f != nil {
		v.f = src.f[offset : offset+n : offset+n]
	} else {
		v.i = src.i[offset : offset+n : offset+n]
	}
	return v
}

func (c *Backend) Upload(dst backend.Tensor, src []float32) error {
	if len(src) != dst.Len() {
		return fmt.Errorf("cpu: upload of %d values into a tensor of %d", len(src), dst.Len())
	}
	if t := asTensor(dst); t.pad != 0 {
		copyRows(t, src, false)
		return nil
	}
	copy(f32(dst), src)
	return nil
}

func (c *Backend) UploadInt32(dst backend.Tensor, src []int32) error {
	d := i32(dst)
	if len(src) != len(d) {
		return fmt.Errorf("cpu: upload of %d values into a tensor of %d", len(src), len(d))
	}
	copy(d, src)
	return nil
}

func (c *Backend) Download(dst []float32, src backend.Tensor) error {
	if src.Len() != len(dst) {
		return fmt.Errorf("cpu: download of a tensor of %d values into %d", src.Len(), len(dst))
	}
	if t := asTensor(src); t.pad != 0 {
		copyRows(t, dst, true)
		return nil
	}
	copy(dst, f32(src))
	return nil
}

func (c *Backend) Fill(t backend.Tensor, v float32) {
	d := f32(t)
	for i := range d {
		d[i] = v
	}
}

func (c *Backend) Copy(dst, src backend.Tensor) {
	if dst.Len() != src.Len() {
		c.fail("copy of %v into %v", src.Shape(), dst.Shape())
		return
	}
	d, s := dst.(*Tensor), src.(*Tensor)
	if d.pad != 0 || s.pad != 0 {
		c.fail("copy of a tensor stored padded (%v into %v): Download and Upload take it", src.Shape(), dst.Shape())
		return
	}
	if (d.f == nil) != (s.f == nil) {
		c.fail("copy between float32 and int32 tensors")
		return
	}
	copy(d.f, s.f)
	copy(d.i, s.i)
}

// sameLen records an error unless every tensor has n elements.
func (c *Backend) sameLen(op string, n int, ts ...backend.Tensor) bool {
	for _, t := range ts {
		if t.Len() != n {
			c.fail("%s: tensor of shape %v, want %d elements", op, t.Shape(), n)
			return false
		}
	}
	return true
}

//go:build cgo

package gpu

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"unsafe"

	"github.com/mnistgpu/mnistgpu/gpu/internal/cuda"
	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// Backend runs every op on GPU 0. Ops queue work on one stream and never
// wait for it; the first failure is kept and returned by Sync (or by the
// next Upload/Download), later ops are skipped. The layer units are the
// composed ones, each the plain ops it stands for.
type Backend struct {
	backend.Composed // Ops: the backend itself

	props   cuda.DeviceProps
	libs    string // versions of the libraries in use, for Device
	stream  *cuda.Stream
	dnn     *cuda.DNN
	blas    *cuda.BLAS
	kernels *kernelSet

	allocs   []cuda.DevicePtr
	datasets map[*dataset]struct{}
	err      error
	closed   bool // after Close every op fails, whatever Sync cleared
	args     cuda.Args

	convs      map[convKey]*convPlan
	batchNorms map[batchNormKey]*batchNormPlan
	// Scratch buffers shared by all layers (one stream runs them in order):
	// transposed filters and filter gradients, cuDNN's workspace, and a
	// vector of ones for bias gradients (column sums as a matrix-vector product).
	filter, filterGrad, workspace, ones scratch
	convMath                            int
}

var _ backend.Backend = (*Backend)(nil)

// TF32Env set to 0 keeps convolutions in plain FP32 (CUDNN_FMA_MATH). By
// default cuDNN may use TF32 tensor cores on Ampere and later GPUs, as
// PyTorch and TensorFlow do: about 3 decimal digits per product, faster.
const TF32Env = "MNISTGPU_TF32"

// Open starts the backend on GPU 0, or says what is missing. Every failure
// wraps backend.ErrUnavailable, so that `--device auto` falls back to the CPU.
func Open() (*Backend, error) {
	b, err := open()
	if err != nil {
		return nil, fmt.Errorf("cuda: %w: %w", err, backend.ErrUnavailable)
	}
	return b, nil
}

func open() (b *Backend, err error) {
	for _, lib := range cuda.Libraries {
		l := cuda.Load(lib)
		if l.Err != nil {
			return nil, l.Err
		}
	}
	if err := cuda.Init(); err != nil {
		return nil, fmt.Errorf("no usable GPU: %w", err)
	}
	n, err := cuda.DeviceCount()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("no GPU visible to the CUDA driver (check CUDA_VISIBLE_DEVICES)")
	}
	if v := cuda.CuDNNVersion(); v < 8000 {
		return nil, fmt.Errorf("cuDNN %s is too old: mnistgpu needs cuDNN 8 or 9", cudnnVersionText(v))
	}
	b = &Backend{datasets: map[*dataset]struct{}{}, convs: map[convKey]*convPlan{}, batchNorms: map[batchNormKey]*batchNormPlan{},
		convMath: cuda.MathDefault}
	b.Composed = backend.Composed{Ops: b}
	convMath := "TF32 allowed in convolutions"
	if os.Getenv(TF32Env) == "0" {
		b.convMath, convMath = cuda.MathFMA, "FP32 convolutions"
	}
	defer func() {
		if err != nil {
			_ = b.Close()
			b = nil
		}
	}()
	if b.props, err = cuda.Device(0); err != nil {
		return b, err
	}
	if err = cuda.UsePrimaryContext(0); err != nil {
		return b, err
	}
	if b.stream, err = cuda.NewStream(); err != nil {
		return b, err
	}
	if b.dnn, err = cuda.NewDNN(b.stream); err != nil {
		return b, err
	}
	if b.blas, err = cuda.NewBLAS(b.stream); err != nil {
		return b, err
	}
	if b.kernels, err = loadKernels(b.props); err != nil {
		return b, err
	}
	b.libs = strings.Join([]string{"cuDNN " + libraryVersion(&cuda.CuDNN), "cuBLAS " + libraryVersion(&cuda.CuBLAS),
		b.kernels.compiler, convMath}, ", ")
	return b, nil
}

// cudnnVersionText turns cudnnGetVersion's number into major.minor.patch
// (cuDNN 9 encodes it as major*10000 + minor*100 + patch, cuDNN 8 as
// major*1000 + minor*100 + patch).
func cudnnVersionText(v int) string {
	if v >= 90000 {
		return fmt.Sprintf("%d.%d.%d", v/10000, v%10000/100, v%100)
	}
	return fmt.Sprintf("%d.%d.%d", v/1000, v%1000/100, v%100)
}

func (b *Backend) Name() string { return "cuda" }

func (b *Backend) Device() string {
	return fmt.Sprintf("%s (sm_%d%d, %.1f GiB), %s", b.props.Name, b.props.Major, b.props.Minor,
		float64(b.props.Memory)/(1<<30), b.libs)
}

// errClosed is what every op reports after Close.
var errClosed = errors.New("cuda: backend closed")

// fail keeps the first error; the ops after it do nothing.
func (b *Backend) fail(err error) {
	if err != nil && b.err == nil {
		b.err = err
	}
}

func (b *Backend) failf(format string, args ...any) { b.fail(fmt.Errorf("cuda: "+format, args...)) }

func (b *Backend) Sync() error {
	if b.closed {
		return errClosed
	}
	if b.err == nil {
		b.fail(b.stream.Synchronize())
	}
	err := b.err
	b.err = nil
	return err
}

// Close waits for queued work and frees everything the backend allocated.
// It is safe on a partly opened backend. (The GPU's primary context stays
// retained for the process; see cuda.UsePrimaryContext.)
func (b *Backend) Close() error {
	var errs []error
	if b.stream != nil {
		errs = append(errs, b.stream.Synchronize())
	}
	for d := range b.datasets {
		errs = append(errs, d.Close())
	}
	for _, p := range b.allocs {
		errs = append(errs, cuda.MemFree(p))
	}
	b.allocs = nil
	for _, s := range []*scratch{&b.filter, &b.filterGrad, &b.workspace, &b.ones} {
		errs = append(errs, s.free())
	}
	for _, c := range b.convs {
		errs = append(errs, c.destroy())
	}
	for _, n := range b.batchNorms {
		errs = append(errs, n.destroy())
	}
	if b.kernels != nil {
		errs = append(errs, b.kernels.module.Unload())
	}
	if b.blas != nil {
		errs = append(errs, b.blas.Destroy())
	}
	if b.dnn != nil {
		errs = append(errs, b.dnn.Destroy())
	}
	if b.stream != nil {
		errs = append(errs, b.stream.Destroy())
	}
	*b = Backend{err: errClosed, closed: true}
	return errors.Join(errs...)
}

// malloc allocates device memory, naming the shortage in GiB when the GPU
// is out of memory.
func malloc(bytes int, what string) (cuda.DevicePtr, error) {
	p, err := cuda.MemAlloc(bytes)
	if err == nil {
		return p, nil
	}
	var ce *cuda.Error
	if errors.As(err, &ce) && ce.OutOfMemory() {
		free, total, _ := cuda.MemInfo()
		return 0, fmt.Errorf("out of GPU memory allocating %s (%.2f GiB; %.2f of %.2f GiB free): %w",
			what, float64(bytes)/(1<<30), float64(free)/(1<<30), float64(total)/(1<<30), err)
	}
	return 0, err
}

func (b *Backend) alloc(shape []int, isInt bool) *Tensor {
	t := &Tensor{shape: slices.Clone(shape), isInt: isInt}
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("gpu: negative dimension in shape %v", shape))
		}
	}
	n := t.Len()
	if n == 0 || b.err != nil {
		return t
	}
	p, err := malloc(4*n, fmt.Sprintf("a tensor of shape %v", shape))
	if err != nil {
		b.fail(err)
		return t
	}
	b.allocs = append(b.allocs, p)
	b.fail(b.stream.Memset32(p, 0, n))
	t.ptr = p
	return t
}

func (b *Backend) Alloc(shape ...int) backend.Tensor      { return b.alloc(shape, false) }
func (b *Backend) AllocInt32(shape ...int) backend.Tensor { return b.alloc(shape, true) }

func (b *Backend) View(t backend.Tensor, offset int, shape ...int) backend.Tensor {
	src := dev(t)
	n := numElements(shape)
	if offset < 0 || offset+n > src.Len() {
		panic(fmt.Sprintf("gpu: view [%d, %d) outside a tensor of %d elements", offset, offset+n, src.Len()))
	}
	return &Tensor{ptr: src.ptr + cuda.DevicePtr(4*offset), shape: slices.Clone(shape), isInt: src.isInt}
}

// transfer checks a host<->device copy's length and type, and that no
// earlier op failed (its error is returned here rather than lost).
func (b *Backend) transfer(what string, t backend.Tensor, n int, isInt bool) (*Tensor, error) {
	d := dev(t)
	if d.isInt != isInt {
		return nil, fmt.Errorf("cuda: %s: element type mismatch", what)
	}
	if n != d.Len() {
		return nil, fmt.Errorf("cuda: %s of %d values, tensor holds %d", what, n, d.Len())
	}
	if b.err != nil {
		return nil, b.Sync()
	}
	return d, nil
}

func (b *Backend) Upload(dst backend.Tensor, src []float32) error {
	d, err := b.transfer("upload", dst, len(src), false)
	if err != nil || len(src) == 0 {
		return err
	}
	return b.stream.CopyToDevice(d.ptr, unsafe.Pointer(&src[0]), 4*len(src))
}

func (b *Backend) UploadInt32(dst backend.Tensor, src []int32) error {
	d, err := b.transfer("upload", dst, len(src), true)
	if err != nil || len(src) == 0 {
		return err
	}
	return b.stream.CopyToDevice(d.ptr, unsafe.Pointer(&src[0]), 4*len(src))
}

func (b *Backend) Download(dst []float32, src backend.Tensor) error {
	s, err := b.transfer("download", src, len(dst), false)
	if err != nil {
		return err
	}
	if len(dst) == 0 {
		return b.Sync()
	}
	return b.stream.CopyToHost(unsafe.Pointer(&dst[0]), s.ptr, 4*len(dst))
}

func (b *Backend) Fill(t backend.Tensor, v float32) {
	if b.err == nil && t.Len() > 0 {
		b.fail(b.stream.Memset32(dev(t).ptr, math.Float32bits(v), t.Len()))
	}
}

func (b *Backend) Copy(dst, src backend.Tensor) {
	if b.err != nil {
		return
	}
	if dst.Len() != src.Len() {
		b.failf("copy of %v into %v", src.Shape(), dst.Shape())
		return
	}
	if dst.Len() > 0 {
		b.fail(b.stream.CopyDevice(dev(dst).ptr, dev(src).ptr, 4*dst.Len()))
	}
}

// scratch is a device buffer that grows to the largest size asked of it
// and is then reused; growing waits for queued work that may still use it.
type scratch struct {
	ptr   cuda.DevicePtr
	bytes int
}

func (b *Backend) grow(s *scratch, bytes int, what string) (cuda.DevicePtr, bool) {
	if b.err != nil {
		return 0, false
	}
	if bytes <= s.bytes {
		return s.ptr, true
	}
	if s.ptr != 0 {
		if err := b.stream.Synchronize(); err != nil {
			b.fail(err)
			return 0, false
		}
		if err := s.free(); err != nil {
			b.fail(err)
			return 0, false
		}
	}
	p, err := malloc(bytes, what)
	if err != nil {
		b.fail(err)
		return 0, false
	}
	s.ptr, s.bytes = p, bytes
	return p, true
}

func (s *scratch) free() error {
	if s.ptr == 0 {
		return nil
	}
	err := cuda.MemFree(s.ptr)
	*s = scratch{}
	return err
}

// onesVector returns a device vector of at least n ones.
func (b *Backend) onesVector(n int) (cuda.DevicePtr, bool) {
	had := b.ones.bytes
	p, ok := b.grow(&b.ones, 4*n, "a vector of ones")
	if ok && b.ones.bytes != had {
		b.fail(b.stream.Memset32(p, math.Float32bits(1), n))
	}
	return p, ok && b.err == nil
}

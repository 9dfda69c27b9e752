//go:build cgo

package gpu

import (
	"errors"

	"github.com/mnistgpu/mnistgpu/gpu/internal/cuda"
	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// convKey identifies a convolution shape; each gets descriptors and
// algorithms once.
type convKey struct{ n, h, w, cin, cout, kh, kw, pad int }

// convPlan is a convolution shape's cuDNN descriptors (NHWC activations,
// NHWC filters (Cout, KH, KW, Cin)) and the algorithm chosen for each pass,
// benchmarked by cuDNN on first use (-1 until then).
type convPlan struct {
	shape cuda.ConvShape
	algo  [3]int
	math  [3]int    // the math type (tensor cores or not) each algorithm was found with
	bytes [3]uint64 // workspace each chosen algorithm needs
}

// destroy frees the descriptors a (possibly partly built) plan holds. Each
// pointer is checked as its own type: a nil *TensorDesc inside an interface
// would not compare equal to nil.
func (p *convPlan) destroy() error {
	var errs []error
	for _, t := range []*cuda.TensorDesc{p.shape.X, p.shape.Y} {
		if t != nil {
			errs = append(errs, t.Destroy())
		}
	}
	if p.shape.W != nil {
		errs = append(errs, p.shape.W.Destroy())
	}
	if p.shape.Conv != nil {
		errs = append(errs, p.shape.Conv.Destroy())
	}
	return errors.Join(errs...)
}

func (b *Backend) convPlan(k convKey) (*convPlan, bool) {
	if p, ok := b.convs[k]; ok {
		return p, true
	}
	p := &convPlan{algo: [3]int{-1, -1, -1}}
	oh, ow := k.h+2*k.pad-k.kh+1, k.w+2*k.pad-k.kw+1
	var err error
	if p.shape.X, err = cuda.NewTensorDesc(cuda.TensorNHWC, k.n, k.cin, k.h, k.w); err == nil {
		if p.shape.Y, err = cuda.NewTensorDesc(cuda.TensorNHWC, k.n, k.cout, oh, ow); err == nil {
			if p.shape.W, err = cuda.NewFilterDesc(cuda.TensorNHWC, k.cout, k.cin, k.kh, k.kw); err == nil {
				if p.shape.Conv, err = cuda.NewConvDesc(k.pad); err == nil {
					err = p.shape.Conv.SetMathType(b.convMath)
				}
			}
		}
	}
	if err != nil {
		b.fail(errors.Join(err, p.destroy()))
		return nil, false
	}
	b.convs[k] = p
	return p, true
}

// prepare chooses pass's algorithm on first use and makes the workspace
// large enough for it.
func (b *Backend) prepare(p *convPlan, pass cuda.ConvPass) (workspace cuda.DevicePtr, ok bool) {
	if b.err != nil {
		return 0, false
	}
	if p.algo[pass] < 0 {
		// Find considers the algorithms the descriptor's math type allows:
		// the backend's setting, not the previous pass's winner.
		if err := p.shape.Conv.SetMathType(b.convMath); err != nil {
			b.fail(err)
			return 0, false
		}
		perf, err := b.dnn.Find(pass, p.shape)
		if err != nil {
			b.fail(err)
			return 0, false
		}
		p.algo[pass], p.math[pass], p.bytes[pass] = perf[0].Algo, mathFor(b.convMath, perf[0].MathType), perf[0].Memory // fastest first
	}
	// The descriptor is shared by the three passes; each algorithm runs with
	// the math type it was benchmarked with.
	if err := p.shape.Conv.SetMathType(p.math[pass]); err != nil {
		b.fail(err)
		return 0, false
	}
	return b.grow(&b.workspace, max(int(p.bytes[pass]), 4), "the cuDNN workspace")
}

// mathFor is the math type an algorithm runs with: the one cuDNN found it
// with, except that plain FP32 (MNISTGPU_TF32=0) stays FP32 whatever Find
// reports. Find may report CUDNN_DEFAULT_MATH for an algorithm found under
// CUDNN_FMA_MATH, and running it under the default would allow TF32 again.
func mathFor(setting, found int) int {
	if setting == cuda.MathFMA {
		return cuda.MathFMA
	}
	return found
}

// convShape checks y = conv(x, w) shapes and returns the plan's key.
func (b *Backend) convShape(op string, y, x, w, bias backend.Tensor, pad int) (convKey, bool) {
	xs, ws, ys := x.Shape(), w.Shape(), y.Shape()
	if len(xs) != 4 || len(ws) != 4 || len(ys) != 4 || ws[2] != xs[3] || bias.Len() != ws[3] || pad < 0 ||
		ys[0] != xs[0] || ys[1] != xs[1]+2*pad-ws[0]+1 || ys[2] != xs[2]+2*pad-ws[1]+1 || ys[3] != ws[3] {
		b.failf("%s: x %v, w %v, b %v, y %v, pad %d do not fit", op, xs, ws, bias.Shape(), ys, pad)
		return convKey{}, false
	}
	return convKey{n: xs[0], h: xs[1], w: xs[2], cin: xs[3], cout: ws[3], kh: ws[0], kw: ws[1], pad: pad}, b.err == nil
}

// filterToCuDNN writes w (KH, KW, Cin, Cout) as cuDNN's (Cout, KH, KW, Cin)
// into the shared filter buffer.
func (b *Backend) filterToCuDNN(w backend.Tensor, k convKey) (cuda.DevicePtr, bool) {
	rows := k.kh * k.kw * k.cin
	wt, ok := b.grow(&b.filter, 4*rows*k.cout, "a transposed filter")
	if ok {
		b.transpose(wt, ptr(w), rows, k.cout)
	}
	return wt, ok && b.err == nil
}

func (b *Backend) transpose(dst, src cuda.DevicePtr, rows, cols int) {
	b.launch("transpose", rows*cols, func(a *cuda.Args) { a.Ptr(dst).Ptr(src).Int(rows).Int(cols) })
}

func (b *Backend) Conv2D(y, x, w, bias backend.Tensor, pad int) {
	k, ok := b.convShape("conv2d", y, x, w, bias, pad)
	if !ok {
		return
	}
	p, ok := b.convPlan(k)
	if !ok {
		return
	}
	wt, ok := b.filterToCuDNN(w, k)
	if !ok {
		return
	}
	ws, ok := b.prepare(p, cuda.Forward)
	if !ok {
		return
	}
	b.fail(b.dnn.Conv(cuda.Forward, p.shape, p.algo[cuda.Forward], ptr(x), wt, ptr(y), ws, p.bytes[cuda.Forward]))
	b.addBias(y, bias)
}

func (b *Backend) Conv2DBackward(dx, dw, db, dy, x, w backend.Tensor, pad int) {
	k, ok := b.convShape("conv2d backward", dy, x, w, db, pad)
	if !ok || !b.sameLen("conv2d backward dw", w.Len(), dw) || (dx != nil && !b.sameLen("conv2d backward dx", x.Len(), dx)) {
		return
	}
	p, ok := b.convPlan(k)
	if !ok {
		return
	}
	b.channelSums(db, dy)
	rows := k.kh * k.kw * k.cin
	dwt, ok := b.grow(&b.filterGrad, 4*rows*k.cout, "a filter gradient")
	if !ok {
		return
	}
	ws, ok := b.prepare(p, cuda.BackwardFilter)
	if !ok {
		return
	}
	b.fail(b.dnn.Conv(cuda.BackwardFilter, p.shape, p.algo[cuda.BackwardFilter], ptr(x), ptr(dy), dwt, ws, p.bytes[cuda.BackwardFilter]))
	b.transpose(ptr(dw), dwt, k.cout, rows)
	if dx == nil {
		return
	}
	wt, ok := b.filterToCuDNN(w, k)
	if !ok {
		return
	}
	if ws, ok = b.prepare(p, cuda.BackwardData); ok {
		b.fail(b.dnn.Conv(cuda.BackwardData, p.shape, p.algo[cuda.BackwardData], wt, ptr(dy), ptr(dx), ws, p.bytes[cuda.BackwardData]))
	}
}

package cpu

import (
	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// convWork is the convolutions' own scratch (the engines they run on keep
// theirs): the transposed weight gradient, the flipped kernel and the
// bias broadcast's loop.
type convWork struct {
	dwT, flipped []float32
	broadcast    broadcastRowsTask
}

// convGeom is the shape of one stride-1 convolution.
type convGeom struct {
	n, h, w, cin    int // input
	kh, kw, cout    int // kernel
	oh, ow          int // output
	padH, padW      int // zero pixels above/below and left/right
	rowsPerImage, k int // im2col: one row per output pixel, k = kh*kw*cin columns
}

func newConvGeom(n, h, w, cin, kh, kw, cout, padH, padW int) convGeom {
	g := convGeom{n: n, h: h, w: w, cin: cin, kh: kh, kw: kw, cout: cout, padH: padH, padW: padW}
	g.oh, g.ow = h+2*padH-kh+1, w+2*padW-kw+1
	g.rowsPerImage, g.k = g.oh*g.ow, kh*kw*cin
	return g
}

func (c *Backend) convGeometry(op string, y, x, w backend.Tensor, pad int) (convGeom, bool) {
	xs, ws, ys := x.Shape(), w.Shape(), y.Shape()
	if len(xs) != 4 || len(ws) != 4 || len(ys) != 4 || ws[2] != xs[3] {
		c.fail("%s: shapes x %v, w %v, y %v do not fit (NHWC, KH KW Cin Cout)", op, xs, ws, ys)
		return convGeom{}, false
	}
	g := newConvGeom(xs[0], xs[1], xs[2], xs[3], ws[0], ws[1], ws[3], pad, pad)
	// pad < kernel keeps the backward pass a convolution with padding ≥ 0.
	if g.oh < 1 || g.ow < 1 || pad < 0 || pad >= g.kh || pad >= g.kw {
		c.fail("%s: kernel %dx%d with padding %d does not fit a %dx%d input (need 0 ≤ padding < kernel)", op, g.kh, g.kw, pad, g.h, g.w)
		return convGeom{}, false
	}
	if ys[0] != g.n || ys[1] != g.oh || ys[2] != g.ow || ys[3] != g.cout {
		c.fail("%s: output %v, want [%d %d %d %d]", op, ys, g.n, g.oh, g.ow, g.cout)
		return convGeom{}, false
	}
	return g, true
}

// Conv2D is one GEMM: y (pixels × Cout) = im2col(x) (pixels × KH·KW·Cin) · w,
// with the im2col operand packed straight from x.
func (c *Backend) Conv2D(y, x, w, b backend.Tensor, pad int) {
	g, ok := c.convGeometry("conv2d", y, x, w, pad)
	if !ok || !c.sameLen("conv2d bias", g.cout, b) {
		return
	}
	ys, xs := f32(y), c.convInput(x, g, &c.directWork.plainX)
	if canDirect(g.cout) {
		c.directForward(ys, xs, f32(w), f32(b), g, false, tileEpilogue{}) // the kernel starts from the bias
		return
	}
	c.broadcastRows(ys, f32(b))
	c.conv(ys, xs.f, f32(w), g, 1)
}

// conv computes y = im2col(x)·w + beta·y (beta 0 or 1) for geometry g,
// w (g.k × g.cout): directly from the image where canDirect allows,
// else as a GEMM that packs im2col panels from the image.
func (c *Backend) conv(y, x, w []float32, g convGeom, beta float32) {
	if canDirect(g.cout) {
		c.directForward(y, image{f: x}, w, nil, g, beta != 0, tileEpilogue{})
		return
	}
	c.gemmWork.imageA = imageCols{x, g}
	c.gemmWork.matB = matrix{w, g.k, g.cout, false}
	c.multiply(g.n*g.rowsPerImage, g.cout, g.k, &c.gemmWork.imageA, &c.gemmWork.matB, beta, y)
}

// Conv2DBackward: db = Σ dy; dwᵀ = dyᵀ·im2col(x), with the image operand
// packed as B so its 16-wide panels are runs of channels; and dx as the
// convolution of dy with the kernel flipped in space and transposed in
// channels, padded by kernel-1-pad — the same fused path as the forward
// pass, so no column matrix is ever folded back.
func (c *Backend) Conv2DBackward(dx, dw, db, dy, x, w backend.Tensor, pad int) {
	if g, ok := c.convBackwardShapes("conv2d backward", dx, dw, db, dy, x, w, pad); ok {
		c.convBackward(g, dx, dw, db, dy, x, w, nil, tileEpilogue{})
	}
}

// convBackwardShapes checks Conv2DBackward's tensors (dx may be nil).
func (c *Backend) convBackwardShapes(op string, dx, dw, db, dy, x, w backend.Tensor, pad int) (convGeom, bool) {
	g, ok := c.convGeometry(op, dy, x, w, pad)
	if !ok || !c.sameLen(op, g.cout, db) || !c.sameLen(op, w.Len(), dw) {
		return g, false
	}
	if dx != nil && dx.Len() != x.Len() {
		c.fail("%s dx: tensor of shape %v, want %d elements", op, dx.Shape(), x.Len())
		return g, false
	}
	return g, true
}

// convBackward is Conv2DBackward on checked shapes, with dy the pending
// gradient from (unless nil) and an epilogue on each tile of dx where the
// direct convolution computes it; it returns the epilogue's per-image
// sums, nil where the epilogue did not run (the caller then makes the
// passes it stands for).
func (c *Backend) convBackward(g convGeom, dx, dw, db, dy, x, w backend.Tensor, from *pendingGradient, e tileEpilogue) []float64 {
	dys, ws := f32(dy), f32(w)
	var dxs []float32
	if dx != nil {
		dxs = f32(dx)
	}
	xs := c.convInput(x, g, &c.directWork.plainX)
	if canDirect(g.cout) {
		return c.directBackward(dxs, f32(dw), f32(db), dys, xs, ws, g, from, e)
	}
	if from != nil {
		c.writePending(dys, from)
	}
	c.columnSums(f32(db), dys, g.cout)
	c.convWeights(f32(dw), dys, xs.f, g)
	if dx != nil {
		c.conv(dxs, dys, c.flipKernel(ws, g), backwardGeom(g), 0)
	}
	return nil
}

// backwardGeom is the convolution that gives dx: dy convolved with the
// kernel flipped in space and transposed in channels, padded by
// kernel-1-pad.
func backwardGeom(g convGeom) convGeom {
	return newConvGeom(g.n, g.oh, g.ow, g.cout, g.kh, g.kw, g.cin, g.kh-1-g.padH, g.kw-1-g.padW)
}

// flipKernel returns w (KH, KW, Cin, Cout) flipped in space and with its
// channels transposed, in a reused buffer.
func (c *Backend) flipKernel(ws []float32, g convGeom) []float32 {
	flipped := grown(&c.convWork.flipped, len(ws))
	for ky := 0; ky < g.kh; ky++ {
		for kx := 0; kx < g.kw; kx++ {
			src := ((g.kh-1-ky)*g.kw + (g.kw - 1 - kx)) * g.cin * g.cout
			dst := (ky*g.kw + kx) * g.cout * g.cin
			for ci := 0; ci < g.cin; ci++ {
				for co := 0; co < g.cout; co++ {
					flipped[dst+co*g.cin+ci] = ws[src+ci*g.cout+co]
				}
			}
		}
	}
	return flipped
}

// convWeights overwrites dw (KH, KW, Cin, Cout) with Σ over pixels of
// im2col(x)ᵀ·dy: directly where canDirect allows, else as dwᵀ = dyᵀ·im2col(x)
// with the image packed as B, so its 16-wide panels are runs of channels.
// (convBackward takes canDirect shapes to directBackward, so the direct
// branch here serves the OpenBLAS comparison, which times the weight
// gradient alone.)
func (c *Backend) convWeights(dw, dy, x []float32, g convGeom) {
	if canDirect(g.cout) {
		d := newDirectGeom(g)
		virtual := virtualLayout(d)
		c.directWeights(dw, c.layOut(&c.directWork.virtualDy, dy, virtual), virtual.imgStride, image{f: x}, d)
		return
	}
	pixels := g.n * g.rowsPerImage
	dwT := grown(&c.convWork.dwT, g.cout*g.k)
	c.gemmWork.matA = matrix{dy, g.cout, pixels, true}
	c.gemmWork.imageB = imageCols{x, g}
	c.multiply(g.cout, g.k, pixels, &c.gemmWork.matA, &c.gemmWork.imageB, 0, dwT)
	for q := 0; q < g.k; q++ {
		for co := 0; co < g.cout; co++ {
			dw[q*g.cout+co] = dwT[co*g.k+q]
		}
	}
}

// broadcastRowsTask sets every row of out (rows × len(bias)) to bias.
type broadcastRowsTask struct{ out, bias []float32 }

func (t *broadcastRowsTask) run(_, lo, hi int) {
	n := len(t.bias)
	for r := lo; r < hi; r++ {
		copy(t.out[r*n:(r+1)*n], t.bias)
	}
}

func (c *Backend) broadcastRows(out, bias []float32) {
	c.convWork.broadcast = broadcastRowsTask{out, bias}
	c.pool.dynamic(len(out)/len(bias), 1024, &c.convWork.broadcast)
}

// columnSums writes into sums the sum of each column of m (rows × cols),
// accumulating in float64 so long batches do not lose precision.
func (c *Backend) columnSums(sums, m []float32, cols int) {
	s, _ := c.channelSums(sumMoments, m, nil, nil, cols, false)
	for j := range sums {
		sums[j] = float32(s[j])
	}
}

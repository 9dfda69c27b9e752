package cpu

import (
	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// convChunkElems bounds the im2col workspace (32 MiB of float32): a chunk of
// whole images is unfolded at a time, so a k=5 layer over a 1000-image
// evaluation batch does not need gigabytes of columns.
const convChunkElems = 8 << 20

// convGeom is the shape of one stride-1 convolution.
type convGeom struct {
	n, h, w, cin    int // input
	kh, kw, cout    int // kernel
	oh, ow, pad     int // output, padding each side
	rowsPerImage, k int // im2col: one row per output pixel, k = kh*kw*cin columns
}

func (c *Backend) convGeometry(op string, y, x, w backend.Tensor, pad int) (convGeom, bool) {
	xs, ws, ys := x.Shape(), w.Shape(), y.Shape()
	if len(xs) != 4 || len(ws) != 4 || len(ys) != 4 || ws[2] != xs[3] {
		c.fail("%s: shapes x %v, w %v, y %v do not fit (NHWC, KH KW Cin Cout)", op, xs, ws, ys)
		return convGeom{}, false
	}
	g := convGeom{n: xs[0], h: xs[1], w: xs[2], cin: xs[3], kh: ws[0], kw: ws[1], cout: ws[3], pad: pad}
	g.oh, g.ow = g.h+2*pad-g.kh+1, g.w+2*pad-g.kw+1
	if g.oh < 1 || g.ow < 1 || pad < 0 {
		c.fail("%s: kernel %dx%d with padding %d does not fit a %dx%d input", op, g.kh, g.kw, pad, g.h, g.w)
		return convGeom{}, false
	}
	if ys[0] != g.n || ys[1] != g.oh || ys[2] != g.ow || ys[3] != g.cout {
		c.fail("%s: output %v, want [%d %d %d %d]", op, ys, g.n, g.oh, g.ow, g.cout)
		return convGeom{}, false
	}
	g.rowsPerImage, g.k = g.oh*g.ow, g.kh*g.kw*g.cin
	return g, true
}

// imagesPerChunk is how many images one im2col pass may unfold.
func (g convGeom) imagesPerChunk() int {
	return max(1, min(g.n, convChunkElems/(g.rowsPerImage*g.k)))
}

func (c *Backend) columns(g convGeom) []float32 {
	need := g.imagesPerChunk() * g.rowsPerImage * g.k
	if len(c.workspace) < need {
		c.workspace = make([]float32, need)
	}
	return c.workspace[:need]
}

// im2colTask unfolds images [first, first+count) of x into cols, one row
// per output pixel, columns ordered (ky, kx, ci) to match the kernel layout.
// Its items are (image, output row) pairs.
type im2colTask struct {
	cols, x      []float32
	g            convGeom
	first, count int
}

func (t *im2colTask) run(_, lo, hi int) {
	g, cols, x := t.g, t.cols, t.x
	rowLen := g.k
	for r := lo; r < hi; r++ {
		img, oy := t.first+r/g.oh, r%g.oh
		for ox := 0; ox < g.ow; ox++ {
			row := cols[(r*g.ow+ox)*rowLen : (r*g.ow+ox+1)*rowLen]
			for ky := 0; ky < g.kh; ky++ {
				iy := oy + ky - g.pad
				seg := row[ky*g.kw*g.cin : (ky+1)*g.kw*g.cin]
				if iy < 0 || iy >= g.h {
					clear(seg)
					continue
				}
				for kx := 0; kx < g.kw; kx++ {
					ix := ox + kx - g.pad
					dst := seg[kx*g.cin : (kx+1)*g.cin]
					if ix < 0 || ix >= g.w {
						clear(dst)
						continue
					}
					src := ((img*g.h+iy)*g.w + ix) * g.cin
					copy(dst, x[src:src+g.cin])
				}
			}
		}
	}
}

func (c *Backend) im2col(cols, x []float32, g convGeom, first, count int) {
	c.tasks.im2col = im2colTask{cols, x, g, first, count}
	c.pool.parallel(count*g.oh, 8, &c.tasks.im2col)
}

// col2imTask adds the column gradients of images [first, first+count)
// back onto dx, which it first clears for those images. Its items are
// images, so no two workers write the same pixel.
type col2imTask struct {
	dx, cols     []float32
	g            convGeom
	first, count int
}

func (t *col2imTask) run(_, lo, hi int) {
	g, dx, cols := t.g, t.dx, t.cols
	imageLen := g.h * g.w * g.cin
	for i := lo; i < hi; i++ {
		img := t.first + i
		clear(dx[img*imageLen : (img+1)*imageLen])
		for oy := 0; oy < g.oh; oy++ {
			for ox := 0; ox < g.ow; ox++ {
				r := (i*g.oh+oy)*g.ow + ox
				row := cols[r*g.k : (r+1)*g.k]
				for ky := 0; ky < g.kh; ky++ {
					iy := oy + ky - g.pad
					if iy < 0 || iy >= g.h {
						continue
					}
					for kx := 0; kx < g.kw; kx++ {
						ix := ox + kx - g.pad
						if ix < 0 || ix >= g.w {
							continue
						}
						src := row[(ky*g.kw+kx)*g.cin : (ky*g.kw+kx+1)*g.cin]
						dst := dx[((img*g.h+iy)*g.w+ix)*g.cin:][:g.cin]
						for ci, v := range src {
							dst[ci] += v
						}
					}
				}
			}
		}
	}
}

func (c *Backend) col2im(dx, cols []float32, g convGeom, first, count int) {
	c.tasks.col2im = col2imTask{dx, cols, g, first, count}
	c.pool.parallel(count, 1, &c.tasks.col2im)
}

// Conv2D is im2col followed by one GEMM per chunk of images: y rows are
// output pixels in NHWC order, so the product lands in place.
func (c *Backend) Conv2D(y, x, w, b backend.Tensor, pad int) {
	g, ok := c.convGeometry("conv2d", y, x, w, pad)
	if !ok || !c.sameLen("conv2d bias", g.cout, b) {
		return
	}
	ys, xs, ws, bs := f32(y), f32(x), f32(w), f32(b)
	cols := c.columns(g)
	per := g.imagesPerChunk()
	for first := 0; first < g.n; first += per {
		count := min(per, g.n-first)
		rows := count * g.rowsPerImage
		out := ys[first*g.rowsPerImage*g.cout : (first*g.rowsPerImage+rows)*g.cout]
		c.broadcastRows(out, bs)
		c.im2col(cols, xs, g, first, count)
		c.gemm(false, false, rows, g.cout, g.k, cols[:rows*g.k], ws, 1, out)
	}
}

// Conv2DBackward: dw = colsᵀ·dy, db = Σ dy, dcols = dy·wᵀ folded back by col2im.
func (c *Backend) Conv2DBackward(dx, dw, db, dy, x, w backend.Tensor, pad int) {
	g, ok := c.convGeometry("conv2d backward", dy, x, w, pad)
	if !ok || !c.sameLen("conv2d backward", g.cout, db) || !c.sameLen("conv2d backward", w.Len(), dw) {
		return
	}
	if dx != nil && !c.sameLen("conv2d backward dx", x.Len(), dx) {
		return
	}
	dys, xs, ws, dws := f32(dy), f32(x), f32(w), f32(dw)
	c.columnSums(f32(db), dys, g.cout)
	if g.n == 0 {
		clear(dws)
		return
	}
	cols := c.columns(g)
	per := g.imagesPerChunk()
	for first := 0; first < g.n; first += per {
		count := min(per, g.n-first)
		rows := count * g.rowsPerImage
		dyChunk := dys[first*g.rowsPerImage*g.cout : (first*g.rowsPerImage+rows)*g.cout]
		c.im2col(cols, xs, g, first, count)
		beta := float32(1)
		if first == 0 {
			beta = 0
		}
		c.gemm(true, false, g.k, g.cout, rows, cols[:rows*g.k], dyChunk, beta, dws)
		if dx != nil {
			c.gemm(false, true, rows, g.k, g.cout, dyChunk, ws, 0, cols[:rows*g.k])
			c.col2im(f32(dx), cols, g, first, count)
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
	c.tasks.broadcast = broadcastRowsTask{out, bias}
	c.pool.parallel(len(out)/len(bias), 1024, &c.tasks.broadcast)
}

// columnSums writes into sums the sum of each column of m (rows × cols),
// accumulating in float64 so long batches do not lose precision.
func (c *Backend) columnSums(sums, m []float32, cols int) {
	c.channelSums(sumX, m, nil, cols)
	for j := range sums {
		sums[j] = float32(c.tasks.sums.out[j])
	}
}

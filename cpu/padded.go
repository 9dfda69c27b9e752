package cpu

import (
	"fmt"
	"slices"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// Activations stored padded (Backend.AllocActivation). The input of a
// 'same' convolution is kept in the direct convolution's padded layout, so
// the convolution reads it where it stands in the forward pass and again
// for the weight gradient, where it would otherwise copy it into that
// layout each time; the batch norm that writes it writes the interior
// rows, and the border, zero from allocation, is never written.

// allocPadded is a plain Alloc where the direct convolution does not run:
// the other convolution paths read the plain layout and would copy a
// padded tensor out again.
func (c *Backend) allocPadded(pad, n, h, w, ch int) backend.Tensor {
	checkShape([]int{pad, n, h, w, ch})
	if pad == 0 || !directConv {
		return c.Alloc(n, h, w, ch)
	}
	l := rowLayout{h: h, w: w, ch: ch, pad: pad}
	// One padded row of slack past the last image: the weight gradient
	// reads up to KW-1 pixels past it (see directGeom.paddedLen).
	size := (n*(h+2*pad) + 1) * l.paddedWidth() * ch
	return &Tensor{shape: []int{n, h, w, ch}, f: make([]float32, size), pad: pad}
}

// rowLayout places the rows of an NHWC tensor (row r: image r/h, line r%h,
// w pixels of ch values) in its storage: back to back, or inside each
// image's border of pad zero pixels.
type rowLayout struct{ h, w, ch, pad int }

func layoutOf(t *Tensor) rowLayout {
	if len(t.shape) != 4 {
		return rowLayout{h: 1, w: t.Len(), ch: 1}
	}
	return rowLayout{h: t.shape[1], w: t.shape[2], ch: t.shape[3], pad: t.pad}
}

func (l rowLayout) paddedWidth() int { return l.w + 2*l.pad }

// start is where row r begins.
func (l rowLayout) start(r int) int {
	if l.pad == 0 {
		return r * l.w * l.ch
	}
	img, y := r/l.h, r%l.h
	return ((img*(l.h+2*l.pad)+y+l.pad)*l.paddedWidth() + l.pad) * l.ch
}

// asTensor unwraps a backend tensor; f32 also refuses a padded one.
func asTensor(t backend.Tensor) *Tensor {
	c, ok := t.(*Tensor)
	if !ok || c.f == nil && c.Len() > 0 {
		panic(fmt.Sprintf("cpu: want a float32 cpu tensor, got %T", t))
	}
	return c
}

func isPadded(t backend.Tensor) bool { return t != nil && asTensor(t).pad != 0 }

// image is a convolution's input: plain NHWC elements, or (padded) its own
// storage, already in the direct convolution's padded layout.
type image struct {
	f      []float32
	padded bool
}

// convInput is x as the convolution of geometry g reads it: its storage
// where x is stored with g's padding and the direct convolution runs;
// else the plain layout, a padded x copied out into buf first.
func (c *Backend) convInput(x backend.Tensor, g convGeom, buf *[]float32) image {
	t := asTensor(x)
	if t.pad == 0 {
		return image{f: t.f}
	}
	d := newDirectGeom(g)
	if canDirect(g.cout) && t.pad == g.padH && t.pad == g.padW && cap(t.f) >= d.paddedLen() {
		return image{f: t.f[:d.paddedLen()], padded: true}
	}
	return image{f: c.plainCopy(t, buf)}
}

// plainElements is t's elements in the plain layout: t's own storage,
// or for a padded t a copy in buf.
func (c *Backend) plainElements(t backend.Tensor, buf *[]float32) []float32 {
	if t == nil {
		return nil
	}
	if pt := asTensor(t); pt.pad != 0 {
		return c.plainCopy(pt, buf)
	}
	return f32(t)
}

// plainCopy copies the padded t's rows out into buf; the paths that need
// it are the fallbacks (see allocPadded), so it runs on one core. The
// copy's capacity ends with it: what follows in buf is an older tensor's,
// which pad must not read in place as slack (0·NaN is NaN).
func (c *Backend) plainCopy(t *Tensor, buf *[]float32) []float32 {
	dst := grown(buf, t.Len())
	copyRows(t, dst, true)
	return dst[:len(dst):len(dst)]
}

// copyRows copies between the padded t's interior rows and plain, the
// same rows back to back: out of t with toPlain, else into t.
func copyRows(t *Tensor, plain []float32, toPlain bool) {
	l := layoutOf(t)
	n := l.w * l.ch
	for r := range t.shape[0] * l.h {
		row, flat := t.f[l.start(r):][:n], plain[r*n:(r+1)*n]
		if toPlain {
			copy(flat, row)
		} else {
			copy(row, flat)
		}
	}
}

// paddedAffineTask is affineTask where y or z is stored padded; items
// are image rows, contiguous in every layout.
type paddedAffineTask struct {
	y, x, z []float32
	yl, zl  rowLayout
	f       affineMap
}

func (t *paddedAffineTask) run(_, lo, hi int) {
	w, ch := t.yl.w, t.yl.ch
	n := w * ch
	for r := lo; r < hi; r++ {
		at := t.yl.start(r)
		var z []float32
		if t.z != nil {
			zt := t.zl.start(r)
			z = t.z[zt : zt+n]
		}
		t.f.rows(t.y[at:at+n], t.x[r*n:(r+1)*n], z, w, ch)
	}
}

// affineInto is affine for tensors: y and z may be stored padded (then
// shaped like x, NHWC).
func (c *Backend) affineInto(op string, y, x, z backend.Tensor, f affineMap) {
	if !isPadded(y) && !isPadded(z) {
		c.affine(f32(y), f32(x), optional(z), f)
		return
	}
	shape := x.Shape()
	if len(shape) != 4 || !slices.Equal(y.Shape(), shape) {
		c.fail("%s: a padded tensor needs NHWC shapes that match: x %v, y %v", op, shape, y.Shape())
		return
	}
	if z != nil && !slices.Equal(z.Shape(), shape) {
		c.fail("%s: a padded tensor needs NHWC shapes that match: x %v, z %v", op, shape, z.Shape())
		return
	}
	t := &c.bnWork.paddedAffine
	*t = paddedAffineTask{y: asTensor(y).f, x: f32(x), yl: layoutOf(asTensor(y)), f: f}
	if z != nil {
		t.z, t.zl = asTensor(z).f, layoutOf(asTensor(z))
	}
	c.pool.dynamic(shape[0]*shape[1], 32, t)
}

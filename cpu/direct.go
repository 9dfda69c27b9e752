package cpu

// The direct convolution, used where the AVX-512 strided kernel runs and
// the output channels come in multiples of 32. The input is copied once
// into a zero-padded image (or read where it is stored that way:
// allocPadded, or unpadded with room past its end); then, with the output
// pixels numbered along the padded width ("virtual pixels": v = oy·Wp +
// ox, where ox ≥ OW are unused columns), tap (ky, kx) of every virtual
// pixel reads the padded input at v + ky·Wp + kx. Consecutive pixels are
// therefore a fixed stride apart for every tap, and the strided kernel
// reads a tile of up to 14 pixels of one output row straight from the
// padded image: no im2col panel is packed.
// The weight gradient runs over all virtual pixels (dy is zero in the
// unused columns), which costs (Wp-OW)/Wp of its arithmetic (8% on this
// model).

// directWork is the direct convolution's scratch: the padded image, the
// padded and virtual-pixel dy, the per-worker weight-gradient partials,
// padSums' per-image partials, the tap offsets and kernel calls; the
// pending dy of conv2DBackwardBN and its coefficients; plain copies of
// padded inputs where a convolution reads the plain layout; and its loops.
type directWork struct {
	padded, paddedDy, virtualDy, partialDw []float32
	imageSums                              []float64
	offs, offsBytes                        []int
	calls                                  []stridedCall
	pendingGrad                            pendingGradient
	pendingCoeff                           []float32
	plainX                                 []float32

	pad     padTask
	forward directForwardTask
	weights directWeightsTask
}

// directGeom extends convGeom with the padded layout.
type directGeom struct {
	convGeom
	hp, wp    int // padded input
	imgStride int // elements per padded image
	virtual   int // virtual output pixels per image: oh·wp
}

func newDirectGeom(g convGeom) directGeom {
	d := directGeom{convGeom: g, hp: g.h + 2*g.padH, wp: g.w + 2*g.padW}
	d.imgStride = d.hp * d.wp * g.cin
	d.virtual = g.oh * d.wp
	return d
}

// paddedLen is the padded batch plus the slack that the weight gradient,
// which reads every virtual pixel of the last image, reads past its end.
func (d *directGeom) paddedLen() int {
	lastRead := d.virtual - 1 + (d.kh-1)*d.wp + d.kw - 1
	return (d.n-1)*d.imgStride + max(d.imgStride, (lastRead+1)*d.cin)
}

// canDirect says whether the direct path takes a convolution with cout
// output channels: it needs an assembly strided kernel, AVX-512, AVX2 or
// NEON (the portable one is far slower than the packed GEMM), and 32-wide
// column blocks.
func canDirect(cout int) bool { return directConv && cout%stridedCols == 0 }

// directConv is set where an assembly strided kernel runs; tests set it to
// run the direct path with the portable kernel.
var directConv = hasAVX512 || hasAVX2 || hasNEON

// padTask copies an NHWC batch into the padded layout, one image per item,
// writing every element (borders and slack included) so the buffer needs no
// clearing between geometries.
type padTask struct {
	dst, src []float32
	d        directGeom
	// With sums set (images × 2·cin), each image's channels are also
	// added up while its rows are in cache (the second half of an image's
	// sums is scratch); zero is cin zeros.
	sums []float64
	zero []float32
	// from, if set, computes the source rows instead of copying src.
	from *pendingGradient
	// virtualDst, if set, gets each row too, laid out on virtual pixels
	// (rows virtualWp pixels apart, the rest of each zero), while the row
	// is in L1: dy's other layout where the weight gradient reads one of
	// its own (see directBackward).
	virtualDst []float32
	virtualWp  int
}

func (t *padTask) run(_, lo, hi int) {
	d := &t.d
	rowLen := d.w * d.cin
	for img := lo; img < hi; img++ {
		var s1, s2 []float64
		if t.sums != nil {
			s1, s2 = groupPair(t.sums, img, d.cin)
		}
		out := t.dst[img*d.imgStride : (img+1)*d.imgStride]
		top := d.padH * d.wp * d.cin
		clear(out[:top])
		for y := range d.h {
			row := out[top+y*d.wp*d.cin : top+(y+1)*d.wp*d.cin]
			left := d.padW * d.cin
			clear(row[:left])
			at := (img*d.h + y) * rowLen
			dst := row[left : left+rowLen]
			if t.from != nil {
				t.from.rows(dst, at, d.w, d.cin)
			} else {
				copy(dst, t.src[at:at+rowLen])
			}
			clear(row[left+rowLen:])
			if t.virtualDst != nil {
				v := t.virtualDst[(img*d.h+y)*t.virtualWp*d.cin : (img*d.h+y+1)*t.virtualWp*d.cin]
				copy(v, dst)
				clear(v[rowLen:])
			}
			if s1 != nil {
				sumsBlock(dst, d.w, d.cin, t.zero, s1, s2, false)
			}
		}
		clear(out[top+d.h*d.wp*d.cin:])
		if img == d.n-1 {
			clear(t.dst[(img+1)*d.imgStride:])
		}
	}
}

// pad returns x in the padded layout of d: x itself where it is stored
// so (convInput), or where d has no padding and x has room for the slack
// past its end (Alloc leaves a zero tail), else a copy. The tail only
// feeds outputs that are dropped or, in the weight gradient, multiplied by
// the zero dy of unused columns, so any finite values would do.
func (c *Backend) pad(x image, d directGeom) []float32 {
	if x.padded {
		return x.f
	}
	if n := d.paddedLen(); d.padH == 0 && d.padW == 0 && cap(x.f) >= n {
		return x.f[:n]
	}
	return c.layOut(&c.directWork.padded, x.f, d)
}

// layOut writes src (n images in d's plain layout) into buf in the padded
// layout of d.
func (c *Backend) layOut(buf *[]float32, src []float32, d directGeom) []float32 {
	dst := grown(buf, d.paddedLen())
	c.directWork.pad = padTask{dst: dst, src: src, d: d}
	c.pool.dynamic(d.n, 2, &c.directWork.pad)
	return dst
}

// virtualOut is a destination for dy on virtual pixels, rows wp apart.
type virtualOut struct {
	dst []float32
	wp  int
}

// virtualLayout is the geometry whose padded layout is d's output laid
// out on virtual pixels: rows d.wp pixels apart, the unused columns zero,
// nothing above or below, so padTask writes it like any padded image.
func virtualLayout(d directGeom) directGeom {
	g := newConvGeom(d.n, d.oh, d.ow, d.cout, 1, 1, d.cout, 0, 0)
	return directGeom{convGeom: g, hp: d.oh, wp: d.wp, imgStride: d.virtual * d.cout, virtual: d.virtual}
}

// padSums pads x into buf like pad and writes the column sums of x
// (rows × cin) into sums, added up per image and then in image order; with
// from set, x is the pending gradient from, computed as it is padded. With
// virtual set, x is laid out on its virtual pixels there too (padTask).
func (c *Backend) padSums(buf *[]float32, x []float32, from *pendingGradient, d directGeom, sums []float32, virtual *virtualOut) []float32 {
	dst := grown(buf, d.paddedLen())
	t := &c.directWork.pad
	*t = padTask{dst: dst, src: x, d: d, sums: grown(&c.directWork.imageSums, 2*d.n*d.cin), zero: c.zeroChannels(d.cin), from: from}
	if virtual != nil {
		t.virtualDst, t.virtualWp = virtual.dst, virtual.wp
	}
	c.pool.dynamic(d.n, 2, t)
	total, _ := c.addGroups(t.sums, d.n, d.cin)
	for j := range sums {
		sums[j] = float32(total[j])
	}
	return dst
}

// tapOffsets fills c.directWork.offs with each tap's offset into the padded image, in
// elements and in bytes.
func (c *Backend) tapOffsets(d directGeom) (elems, bytes []int) {
	elems = grown(&c.directWork.offs, d.kh*d.kw)
	bytes = grown(&c.directWork.offsBytes, d.kh*d.kw)
	for ky := range d.kh {
		for kx := range d.kw {
			o := (ky*d.wp + kx) * d.cin
			elems[ky*d.kw+kx], bytes[ky*d.kw+kx] = o, 4*o
		}
	}
	return elems, bytes
}

// stridedCalls hands each worker its own call struct.
func (c *Backend) stridedCalls() []stridedCall {
	for len(c.directWork.calls) < c.pool.size {
		c.directWork.calls = append(c.directWork.calls, stridedCall{})
	}
	return c.directWork.calls
}

// directForwardTask: items are images. Each output row is cut into
// rowTiles tiles of consecutive pixels (26 pixels: 13 and 13), so a tile
// never reaches the padded layout's unused columns: no arithmetic is spent
// on outputs that would be dropped, and a tile's rows are one contiguous
// run of y.
type directForwardTask struct {
	y, xp, w    []float32
	bias        []float32 // nil or cout long
	d           directGeom
	offs, offsB []int
	calls       []stridedCall
	accumulate  bool
	epilogue    tileEpilogue // run on each tile as it is written
}

// rowTiles is how many tiles an output row of width ow is cut into.
func rowTiles(ow int) int { return (ow + maxMR - 1) / maxMR }

func (t *directForwardTask) run(worker, lo, hi int) {
	d := &t.d
	s := &t.calls[worker]
	*s = stridedCall{offs: t.offs, offsBytes: t.offsB, kPerTap: d.cin, ar: d.cin, ap: 1, bp: d.cout}
	tiles := rowTiles(d.ow)
	for img := lo; img < hi; img++ {
		s1, s2 := t.epilogue.imageSums(img, d.cout)
		for oy := range d.oh {
			for ti, ox := 0, 0; ti < tiles; ti++ {
				s.mr = (d.ow - ox + tiles - ti - 1) / (tiles - ti)
				s.a = t.xp[img*d.imgStride+(oy*d.wp+ox)*d.cin:]
				out := ((img*d.oh+oy)*d.ow + ox) * d.cout
				maskAt := t.epilogue.maskStart(out, img*d.oh+oy, ox, d.cout)
				t.epilogue.prefetch(out, maskAt, s.mr*d.cout)
				for cb := 0; cb < d.cout; cb += stridedCols {
					for r := range s.mr {
						s.rows[r] = t.y[out+r*d.cout+cb : out+r*d.cout+cb+stridedCols]
					}
					s.b = t.w[cb:]
					if t.bias != nil {
						s.bias = t.bias[cb : cb+stridedCols]
					}
					stridedKernel(s, t.accumulate)
				}
				if t.epilogue.kind != noEpilogue {
					t.epilogue.tile(t.y[out:out+s.mr*d.cout], out, maskAt, s.mr, d.cout, s1, s2)
				}
				ox += s.mr
			}
		}
	}
}

// directForward computes y (+)= conv(x, w) + bias for geometry g (g.cout a
// multiple of 32, bias nil for none); with accumulate it adds to y, else
// overwrites it. It runs e on each tile (the zero value for none) and
// returns the epilogue's per-image sums.
func (c *Backend) directForward(y []float32, x image, w, bias []float32, g convGeom, accumulate bool, e tileEpilogue) []float64 {
	d := newDirectGeom(g)
	return c.directPadded(y, c.pad(x, d), w, bias, d, accumulate, e)
}

// directPadded is directForward on an input already in the padded layout
// of d.
func (c *Backend) directPadded(y, xp, w, bias []float32, d directGeom, accumulate bool, e tileEpilogue) []float64 {
	offs, offsB := c.tapOffsets(d)
	t := &c.directWork.forward
	*t = directForwardTask{y: y, xp: xp, w: w, bias: bias, d: d, offs: offs, offsB: offsB, calls: c.stridedCalls(),
		accumulate: accumulate, epilogue: e}
	if e.summing() {
		t.epilogue.sums = grown(&c.bnWork.groupSums, 2*d.n*d.cout)
	}
	c.pool.dynamic(d.n, 1, t)
	return t.epilogue.sums
}

// weightGroups is how many fixed groups of images the weight gradient is
// split into: each group sums into its own partial and the partials are
// added in group order, so the result does not depend on which worker
// took which group (training runs repeat bit for bit).
const weightGroups = 8

// directWeightsTask: items are groups of images (weightGroups). The
// product is, over the image's virtual pixels v, dw[tap] (cin × cout) +=
// xpad[v + tap]ᵀ · dyV[v], with dyV the output gradient laid out on virtual
// pixels, zero in the unused columns so that they add nothing. The taps of
// one kernel row are one channel run apart in the padded image, so the
// kw·cin rows of dw for kernel row ky, (kx, ci) in order, read one
// contiguous run of the padded pixel at v + (ky, 0): a tile takes up to
// maxMR of them at stride 1, across tap boundaries, and each pass over dyV
// feeds as many rows as the kernel holds (the 96 rows of a 3-wide kernel
// on 32 channels go as 7 tiles of 13-14 rows, where tiles within one tap
// would take 9 of 10-11).
type directWeightsTask struct {
	partial     []float32 // groups × taps·cin·cout
	groups      int
	xp, dyv     []float32
	dyStride    int // elements from one image's virtual dy to the next
	d           directGeom
	offs, offsB []int
	calls       []stridedCall
}

func (t *directWeightsTask) run(worker, lo, hi int) {
	for group := lo; group < hi; group++ {
		t.group(worker, group)
	}
}

func (t *directWeightsTask) group(worker, group int) {
	d := &t.d
	size := d.kh * d.kw * d.cin * d.cout
	part := t.partial[group*size : (group+1)*size]
	clear(part)
	s := &t.calls[worker]
	*s = stridedCall{kPerTap: d.virtual, ar: 1, ap: d.cin, bp: d.cout}
	rowLen := d.kw * d.cin // rows of dw per kernel row
	tiles := (rowLen + maxMR - 1) / maxMR
	for img := group * d.n / t.groups; img < (group+1)*d.n/t.groups; img++ {
		for ky := range d.kh {
			// t.offs[ky*kw] is tap (ky, 0), where the kernel row's run starts.
			s.offs, s.offsBytes = t.offs[ky*d.kw:ky*d.kw+1], t.offsB[ky*d.kw:ky*d.kw+1]
			for cb := 0; cb < d.cout; cb += stridedCols {
				s.b = t.dyv[img*t.dyStride+cb:]
				for ti, q := 0, 0; ti < tiles; ti++ {
					s.mr = (rowLen - q + tiles - ti - 1) / (tiles - ti)
					s.a = t.xp[img*d.imgStride+q:]
					for r := range s.mr {
						at := (ky*rowLen+q+r)*d.cout + cb
						s.rows[r] = part[at : at+stridedCols]
					}
					stridedKernel(s, true)
					q += s.mr
				}
			}
		}
	}
}

// directBackward is Conv2DBackward where canDirect(g.cout): db, dw and,
// unless dx is nil, dx — directly as well where canDirect(g.cin), with the
// epilogue e on each tile of dx; it returns e's sums, nil where e did not
// run. With from set, dy is that pending gradient, computed as it is laid
// out for the convolutions that read it (written into dy only where the
// GEMM path reads it plain). db is added up on the first of those passes.
// dy is padded once for the dx convolution; with 'same' padding along the
// rows that padded dy is also the virtual-pixel dy of dw (see
// directWeightsTask), else the same pass lays each row out on dw's
// virtual pixels too, while it is in L1.
func (c *Backend) directBackward(dx, dw, db, dy []float32, x image, w []float32, g convGeom, from *pendingGradient, e tileEpilogue) []float64 {
	d := newDirectGeom(g)
	back := backwardGeom(g)
	virtual := virtualLayout(d)
	if dx == nil || !canDirect(back.cout) {
		if from != nil && dx != nil {
			c.writePending(dy, from)
			from = nil
		}
		c.directWeights(dw, c.padSums(&c.directWork.virtualDy, dy, from, virtual, db, nil), virtual.imgStride, x, d)
		if dx != nil {
			c.conv(dx, dy, c.flipKernel(w, g), back, 0)
		}
		return nil
	}
	bd := newDirectGeom(back)
	if g.kw-1 == 2*g.padW {
		dyp := c.padSums(&c.directWork.paddedDy, dy, from, bd, db, nil)
		base := (back.padH*bd.wp + back.padW) * g.cout
		c.directWeights(dw, dyp[base:], bd.imgStride, x, d)
		return c.directPadded(dx, dyp, c.flipKernel(w, g), nil, bd, false, e)
	}
	dyv := &virtualOut{grown(&c.directWork.virtualDy, virtual.paddedLen()), d.wp}
	dyp := c.padSums(&c.directWork.paddedDy, dy, from, bd, db, dyv)
	c.directWeights(dw, dyv.dst, virtual.imgStride, x, d)
	return c.directPadded(dx, dyp, c.flipKernel(w, g), nil, bd, false, e)
}

// writePending writes the pending gradient p into dy.
func (c *Backend) writePending(dy []float32, p *pendingGradient) {
	c.affine(dy, p.x, p.g, p.f)
}

// directWeights writes dw (KH, KW, Cin, Cout) = Σ over pixels of the input
// patch ⊗ dy, overwriting dw; dyv is dy on virtual pixels, dyStride
// elements per image.
func (c *Backend) directWeights(dw, dyv []float32, dyStride int, x image, d directGeom) {
	xp := c.pad(x, d)
	offs, offsB := c.tapOffsets(d)
	size := d.kh * d.kw * d.cin * d.cout
	groups := min(weightGroups, d.n)
	partial := grown(&c.directWork.partialDw, groups*size)
	c.directWork.weights = directWeightsTask{partial, groups, xp, dyv, dyStride, d, offs, offsB, c.stridedCalls()}
	c.pool.dynamic(groups, 1, &c.directWork.weights)
	copy(dw, partial[:size])
	for g := 1; g < groups; g++ {
		for i, v := range partial[g*size : (g+1)*size] {
			dw[i] += v
		}
	}
}

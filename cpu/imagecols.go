package cpu

// imageCols is the im2col matrix of an NHWC batch, never stored: row i is
// output pixel (img, oy, ox) in NHWC order, column q is kernel tap
// (ky, kx, ci) in the kernel's (KH, KW, Cin, ·) order, and taps that fall
// in the padding read 0. Packing GEMM panels straight from the image saves
// writing and re-reading the columns, which for this model's 32-channel
// layers cost as much as the arithmetic.
type imageCols struct {
	x []float32
	g convGeom
}

// tapRun is a run of columns within one kernel tap: channels ci..ci+n of
// the input pixel at offset (dy, dx) from the output pixel, landing at
// column offset col of the block being packed.
type tapRun struct{ dy, dx, ci, n, col int }

// zeros backs the runs that fall in the padding; a run is at most kcMax long.
var zeros [kcMax]float32

// runs splits columns [q0, q1) into per-tap runs; the split is the same for
// every pixel, so it is worked out once per block.
func (a *imageCols) runs(dst []tapRun, q0, q1 int) []tapRun {
	g := &a.g
	dst = dst[:0]
	for q := q0; q < q1; {
		tap, ci := q/g.cin, q%g.cin
		n := min(g.cin-ci, q1-q)
		dst = append(dst, tapRun{dy: tap/g.kw - g.padH, dx: tap%g.kw - g.padW, ci: ci, n: n, col: q - q0})
		q += n
	}
	return dst
}

// source is the run's n values for output pixel (img, oy, ox): a slice of
// the image, or zeros in the padding.
func (a *imageCols) source(r tapRun, img, oy, ox int) []float32 {
	g := &a.g
	iy, ix := oy+r.dy, ox+r.dx
	if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w {
		return zeros[:r.n]
	}
	at := ((img*g.h+iy)*g.w+ix)*g.cin + r.ci
	return a.x[at : at+r.n]
}

// pixel splits row i into image and output coordinates.
func (a *imageCols) pixel(i int) (img, oy, ox int) {
	g := &a.g
	img, rest := i/g.rowsPerImage, i%g.rowsPerImage
	return img, rest / g.ow, rest % g.ow
}

// packRows interleaves six pixels' runs, so the panel is written in order.
func (a *imageCols) packRows(dst []float32, i0, rows, pc, kb int) {
	var runBuf [kcMax]tapRun
	runs := a.runs(runBuf[:], pc, pc+kb)
	total := a.g.n * a.g.rowsPerImage
	var img, oy, ox [mr]int
	var valid [mr]bool
	var src [mr][]float32
	for ip := 0; ip*mr < rows; ip++ {
		panel := dst[ip*mr*kb : (ip+1)*mr*kb]
		for r := range mr {
			i := i0 + ip*mr + r
			valid[r] = i < total
			if valid[r] {
				img[r], oy[r], ox[r] = a.pixel(i)
			}
		}
		for _, run := range runs {
			for r := range mr {
				if valid[r] {
					src[r] = a.source(run, img[r], oy[r], ox[r])
				} else {
					src[r] = zeros[:run.n]
				}
			}
			s0, s1, s2, s3, s4, s5 := src[0][:run.n], src[1][:run.n], src[2][:run.n], src[3][:run.n], src[4][:run.n], src[5][:run.n]
			out := panel[run.col*mr : (run.col+run.n)*mr]
			for t := range run.n {
				o := out[t*mr : t*mr+mr : t*mr+mr]
				o[0], o[1], o[2], o[3], o[4], o[5] = s0[t], s1[t], s2[t], s3[t], s4[t], s5[t]
			}
		}
	}
}

// packCols copies, per pixel, its runs of channels: with 32 or 64 channels
// a 16-wide panel is one contiguous run.
func (a *imageCols) packCols(dst []float32, pc, kb, j0 int) {
	cols := min(nr, a.g.k-j0)
	var runBuf [nr]tapRun
	runs := a.runs(runBuf[:], j0, j0+cols)
	img, oy, ox := a.pixel(pc)
	for p := 0; p < kb; p++ {
		out := dst[p*nr : p*nr+nr]
		for _, run := range runs {
			copy(out[run.col:run.col+run.n], a.source(run, img, oy, ox))
		}
		clear(out[cols:])
		// Next pixel, without dividing.
		if ox++; ox == a.g.ow {
			ox = 0
			if oy++; oy == a.g.oh {
				oy = 0
				img++
			}
		}
	}
}

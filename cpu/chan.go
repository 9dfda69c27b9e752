package cpu

import "math"

// The inner loops of the element-wise and per-channel ops, on a range of
// rows of an (rows, ch) array: assembly (AVX-512 chan_amd64.s, AVX2
// chan_avx2_amd64.s, NEON chan_neon_arm64.s) where the CPU has it and ch
// is a multiple of 16, these portable loops elsewhere.
// Both compute the same float32 expressions, so the paths differ only by
// the order of rounding.

// rowSteps are the element-wise steps that affineRows folds into its
// pass, so that a ReLU next to a batch norm costs no pass of its own; the
// zero value is none of them.
type rowSteps struct {
	reluIn  bool // read max(x, 0) for x
	reluOut bool // write max(y, 0) for y
	maskOut bool // write 0 where x ≤ 0: the gradient through a ReLU of x
}

// sumsBlock adds Σ_r (x[r,j]-mu[j]) to s1[j] and Σ_r (x[r,j]-mu[j])² to
// s2[j], the differences in float32 and the sums in float64, so that long
// batches lose nothing; mu near the data keeps the differences small. With
// reluX, max(x, 0) stands for x.
func sumsBlockGo(x []float32, rows, ch int, mu []float32, s1, s2 []float64, reluX bool) {
	s1, s2 = s1[:ch], s2[:ch]
	for r := range rows {
		for j, v := range x[r*ch : (r+1)*ch] {
			if reluX {
				v = max(v, 0)
			}
			d := float64(v - mu[j])
			s1[j] += d
			s2[j] += d * d
		}
	}
}

// dotsBlock adds Σ_r a[r,j] to s1[j] and Σ_r a[r,j]·(b[r,j]-mu[j]) to s2[j];
// with reluB, max(b, 0) stands for b.
func dotsBlockGo(a, b []float32, rows, ch int, mu []float32, s1, s2 []float64, reluB bool) {
	s1, s2 = s1[:ch], s2[:ch]
	for r := range rows {
		br := b[r*ch : (r+1)*ch]
		for j, v := range a[r*ch : (r+1)*ch] {
			bv := br[j]
			if reluB {
				bv = max(bv, 0)
			}
			s1[j] += float64(v)
			s2[j] += float64(v) * float64(bv-mu[j])
		}
	}
}

// affineRows sets y[r,j] = ka[j]·(x[r,j]-m[j]) + kc[j] + kb[j]·z[r,j], the
// last term left out where z is nil, with the steps s; y may alias x or z.
// Subtracting m first keeps inputs with a large common offset exact, where
// folding it into kc would cancel.
func affineRowsGo(y, x, z []float32, rows, ch int, ka, m, kb, kc []float32, s rowSteps) {
	for r := range rows {
		yr, xr := y[r*ch:(r+1)*ch], x[r*ch:(r+1)*ch]
		var zr []float32
		if z != nil {
			zr = z[r*ch : (r+1)*ch]
		}
		for j, xv := range xr {
			v := xv
			if s.reluIn {
				v = max(v, 0)
			}
			v = ka[j]*(v-m[j]) + kc[j]
			if zr != nil {
				v += kb[j] * zr[j]
			}
			if s.reluOut {
				v = max(v, 0)
			}
			if s.maskOut && xv <= 0 {
				v = 0
			}
			yr[j] = v
		}
	}
}

func reluGo(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

// reluBackwardGo passes dy where y > 0 or y is NaN (as the assembly's
// "not y <= 0" compare does). It masks without a branch: whether y > 0 is as good as
// random, and a mispredicted branch per element costs more than the
// arithmetic.
func reluBackwardGo(dx, dy, y []float32) {
	dx, dy = dx[:len(y)], dy[:len(y)]
	for i, v := range y {
		bits := int32(math.Float32bits(v))
		positive := ^((bits - 1) >> 31) & ^(bits >> 31) // all ones iff v > 0 or a positive NaN
		nan := (0x7f800000 - bits&0x7fffffff) >> 31     // all ones iff v is a NaN of either sign
		keep := uint32(positive | nan)
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & keep)
	}
}

func addGo(y, a, b []float32) {
	y, b = y[:len(a)], b[:len(a)]
	for i := range y {
		y[i] = a[i] + b[i]
	}
}

// maxPoolRowGo writes one output row of a 2x2 max pool: y[ox,j] is the
// maximum over input columns 2ox and 2ox+1 of rows top and bottom.
func maxPoolRowGo(y, top, bottom []float32, ow, ch int) {
	for ox := range ow {
		out := y[ox*ch : (ox+1)*ch]
		t0, t1 := top[2*ox*ch:(2*ox+1)*ch], top[(2*ox+1)*ch:(2*ox+2)*ch]
		b0, b1 := bottom[2*ox*ch:(2*ox+1)*ch], bottom[(2*ox+1)*ch:(2*ox+2)*ch]
		for j := range out {
			out[j] = max(t0[j], t1[j], b0[j], b1[j])
		}
	}
}

// maxPoolBackwardRowGo writes the two dx rows under one output row: the
// first maximum of each window, in the order top-left, top-right,
// bottom-left, bottom-right, gets dy and the others 0. Finding the maximum
// again rather than storing its index keeps the op's inputs the same on
// every backend.
func maxPoolBackwardRowGo(dtop, dbottom, dy, top, bottom []float32, ow, ch int) {
	for ox := range ow {
		g := dy[ox*ch : (ox+1)*ch]
		a, b := 2*ox*ch, (2*ox+1)*ch
		x00, x01, x10, x11 := top[a:a+ch], top[b:b+ch], bottom[a:a+ch], bottom[b:b+ch]
		d00, d01, d10, d11 := dtop[a:a+ch], dtop[b:b+ch], dbottom[a:a+ch], dbottom[b:b+ch]
		for j, gj := range g {
			best, at := x00[j], 0
			if x01[j] > best {
				best, at = x01[j], 1
			}
			if x10[j] > best {
				best, at = x10[j], 2
			}
			if x11[j] > best {
				at = 3
			}
			d00[j], d01[j], d10[j], d11[j] = 0, 0, 0, 0
			switch at {
			case 0:
				d00[j] = gj
			case 1:
				d01[j] = gj
			case 2:
				d10[j] = gj
			default:
				d11[j] = gj
			}
		}
	}
}

// adamGo is the Keras Adam update of p from gradient g with moments m
// and v (see Backend.Adam). The float32 conversions round each product
// on its own, as the assembly does: without them the arm64 compiler fuses
// the multiply into the add (FMADD), and arm64 would train to other bits.
func adamGo(p, g, m, v []float32, alpha, beta1, beta2, eps float32) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for i, gi := range g {
		m[i] += float32((gi - m[i]) * (1 - beta1))
		v[i] += float32((float32(gi*gi) - v[i]) * (1 - beta2))
		p[i] -= alpha * m[i] / (float32(math.Sqrt(float64(v[i]))) + eps)
	}
}

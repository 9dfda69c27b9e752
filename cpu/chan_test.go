package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestChannelKernels compares the assembly loops of chan.go with the
// portable ones on row and channel counts around the 16-wide vectors, with
// y aliasing an input where the ops allow it.
func TestChannelKernels(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512 on this CPU (or -tags purego): only the portable loops exist")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	near := func(t *testing.T, what string, got, want []float32, tol float64) {
		t.Helper()
		for i := range want {
			if d := math.Abs(float64(got[i] - want[i])); d > tol*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(got[i])) != math.IsNaN(float64(want[i])) {
				t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
			}
		}
	}
	near64 := func(t *testing.T, what string, got, want []float64) {
		t.Helper()
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-9*(1+math.Abs(want[i])) {
				t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
			}
		}
	}
	for _, ch := range []int{16, 32, 48, 64, 128} {
		for _, rows := range []int{1, 3, 256, 257} {
			t.Run(fmt.Sprintf("ch=%d/rows=%d", ch, rows), func(t *testing.T) {
				x, z, mu := randSlice(rng, rows*ch), randSlice(rng, rows*ch), randSlice(rng, ch)
				ka, kb, kc := randSlice(rng, ch), randSlice(rng, ch), randSlice(rng, ch)
				// Sums add to what is there, in float64.
				g1, g2, w1, w2 := make([]float64, ch), make([]float64, ch), make([]float64, ch), make([]float64, ch)
				for j := range ch {
					g1[j], g2[j] = float64(j), -float64(j)
					w1[j], w2[j] = g1[j], g2[j]
				}
				for _, relu := range []bool{false, true} {
					sumsBlock(x, rows, ch, mu, g1, g2, relu)
					sumsBlockGo(x, rows, ch, mu, w1, w2, relu)
					near64(t, "sums s1", g1, w1)
					near64(t, "sums s2", g2, w2)
					dotsBlock(x, z, rows, ch, mu, g1, g2, relu)
					dotsBlockGo(x, z, rows, ch, mu, w1, w2, relu)
					near64(t, "dots s1", g1, w1)
					near64(t, "dots s2", g2, w2)
				}
				for _, s := range []rowSteps{{}, {reluIn: true}, {reluOut: true}, {reluIn: true, maskOut: true}} {
					for _, zs := range [][]float32{z, nil} {
						got, want := append([]float32(nil), x...), make([]float32, len(x))
						affineRowsGo(want, x, zs, rows, ch, ka, mu, kb, kc, s)
						affineRows(got, got, zs, rows, ch, ka, mu, kb, kc, s) // in place
						near(t, fmt.Sprintf("affine %+v, z %t", s, zs != nil), got, want, 1e-6)
					}
				}
			})
		}
	}
	for _, n := range []int{1, 15, 16, 17, 33, 1000} {
		t.Run(fmt.Sprintf("elementwise/n=%d", n), func(t *testing.T) {
			a, b := randSlice(rng, n), randSlice(rng, n)
			// Edge values where a mask could go wrong: ±0, NaN of either sign, ±Inf.
			special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), -float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
			for i := range min(n, len(special)) {
				a[i] = special[i]
			}
			got, want := make([]float32, n), make([]float32, n)
			relu(got, a)
			reluGo(want, a)
			near(t, "relu", got, want, 0)
			reluBackward(got, b, a)
			reluBackwardGo(want, b, a)
			near(t, "relu backward", got, want, 0)
			add(got, a, b)
			addGo(want, a, b)
			near(t, "add", got, want, 0)
		})
	}
	for _, ch := range []int{16, 32, 64} {
		for _, ow := range []int{1, 3, 12} {
			t.Run(fmt.Sprintf("max pool/ch=%d/ow=%d", ch, ow), func(t *testing.T) {
				// Values from {0, 1, 2}, so most windows have ties and the
				// first-maximum rule decides.
				top, bottom := make([]float32, 2*ow*ch), make([]float32, 2*ow*ch)
				for i := range top {
					top[i], bottom[i] = float32(rng.IntN(3)), float32(rng.IntN(3))
				}
				dy := randSlice(rng, ow*ch)
				got, want := make([]float32, ow*ch), make([]float32, ow*ch)
				maxPoolRow(got, top, bottom, ow, ch)
				maxPoolRowGo(want, top, bottom, ow, ch)
				near(t, "max pool", got, want, 0)
				gt, gb := randSlice(rng, 2*ow*ch), randSlice(rng, 2*ow*ch) // every element must be written
				wt, wb := make([]float32, 2*ow*ch), make([]float32, 2*ow*ch)
				maxPoolBackwardRow(gt, gb, dy, top, bottom, ow, ch)
				maxPoolBackwardRowGo(wt, wb, dy, top, bottom, ow, ch)
				near(t, "max pool backward top", gt, wt, 0)
				near(t, "max pool backward bottom", gb, wb, 0)
			})
		}
	}
	for _, n := range []int{1, 16, 17, 1000} {
		t.Run(fmt.Sprintf("adam/n=%d", n), func(t *testing.T) {
			g := randSlice(rng, n)
			p, m, v := randSlice(rng, n), randSlice(rng, n), randSlice(rng, n)
			for i := range v {
				v[i] *= v[i]
			}
			wp, wm, wv := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
			adamUpdate(p, g, m, v, 1e-3, 0.9, 0.999, 1e-7)
			adamGo(wp, g, wm, wv, 1e-3, 0.9, 0.999, 1e-7)
			near(t, "adam p", p, wp, 0) // same roundings: bit for bit
			near(t, "adam m", m, wm, 0)
			near(t, "adam v", v, wv, 0)
		})
	}
}

package cpu

import (
	"encoding/binary"
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"
)

// TestChannelKernels compares the assembly loops of chan.go with the
// portable ones on row and channel counts around the 16-wide vectors, with
// y aliasing an input where the ops allow it, for each instruction set the
// CPU runs (AVX2 with AVX-512 off, as on a CPU without it).
func TestChannelKernels(t *testing.T) {
	isas := asmISAs()
	if len(isas) == 0 {
		t.Skip("no AVX2/FMA or AVX-512 on this CPU (or -tags purego): only the portable loops exist")
	}
	for _, isa := range isas {
		withISA(isa.avx2, isa.avx512, func() {
			t.Run(isa.name, func(t *testing.T) { channelKernels(t) })
		})
	}
}

func channelKernels(t *testing.T) {
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

// TestChannelKernelsAVX2MatchAVX512 runs every AVX2 row loop and its
// AVX-512 twin on the same inputs, with ±0, NaN of either sign and ±Inf
// among them, and wants the same bits (NaN payloads included): the AVX2
// path must train as the AVX-512 one does.
func TestChannelKernelsAVX2MatchAVX512(t *testing.T) {
	if !hasAVX2 || !hasAVX512 {
		t.Skip("needs a CPU with both AVX2 and AVX-512 to compare them")
	}
	// both runs f on the AVX2 loops and on the AVX-512 ones and returns
	// the two results.
	both := func(f func() []float32) (avx2, avx512 []float32) {
		withISA(true, false, func() { avx2 = f() })
		withISA(true, true, func() { avx512 = f() })
		return avx2, avx512
	}
	rowLoopCases(func(_, what string, f func() []float32) {
		t.Helper()
		a, b := both(f)
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("%s[%d]: AVX2 %g (%08x), AVX-512 %g (%08x)", what, i, a[i], math.Float32bits(a[i]), b[i], math.Float32bits(b[i]))
			}
		}
	})
}

// TestChannelKernelsPinned hashes what every row loop writes on the inputs
// of TestChannelKernelsAVX2MatchAVX512 and wants the hashes recorded on
// the AVX-512 loops, on each instruction set the CPU runs: so arm64's NEON
// loops, which cannot run beside the x86 ones, are held to their bits
// too. A NaN counts as any NaN here: x86 and arm64 make different default
// NaNs (Inf-Inf is 0xffc00000 on one, 0x7fc00000 on the other).
func TestChannelKernelsPinned(t *testing.T) {
	isas := asmISAs()
	if len(isas) == 0 {
		t.Skip("no AVX2/FMA, AVX-512 or NEON on this CPU (or -tags purego): the portable loops round differently")
	}
	want := map[string]uint64{ // recorded on the AVX-512 loops (Xeon, 2026-12-04)
		"sums":              0x0a9a3f56f53f2a2c,
		"dots":              0xa597e2d8544c8309,
		"affine":            0xef2c225e60d984d0,
		"relu":              0x2886d67a6b2ce490,
		"relu backward":     0xcbd41e1af72b225b,
		"add":               0x50a3e3e1ee314469,
		"adam":              0xf21343e923c9eabc,
		"max pool":          0xa26d905c56dbaf35,
		"max pool backward": 0xf071bedfe405f90b,
	}
	for _, isa := range isas {
		withISA(isa.avx2, isa.avx512, func() {
			hashes := map[string]hash.Hash64{}
			rowLoopCases(func(loop, _ string, f func() []float32) {
				h := hashes[loop]
				if h == nil {
					h = fnv.New64a()
					hashes[loop] = h
				}
				var word [4]byte
				for _, v := range f() {
					if v != v {
						v = float32(math.NaN())
					}
					binary.LittleEndian.PutUint32(word[:], math.Float32bits(v))
					h.Write(word[:])
				}
			})
			for loop, h := range hashes {
				if h.Sum64() != want[loop] {
					t.Errorf("%s: %s loop hashes to %#x, pinned %#x", isa.name, loop, h.Sum64(), want[loop])
				}
			}
			if len(hashes) != len(want) {
				t.Errorf("%s: %d loops hashed, %d pinned", isa.name, len(hashes), len(want))
			}
		})
	}
}

// rowLoopCases calls visit with each row loop's name, a case's name and a
// function that runs the loop on that case's inputs, with ±0, NaN of
// either sign and ±Inf among them, and returns what it wrote.
func rowLoopCases(visit func(loop, what string, f func() []float32)) {
	rng := rand.New(rand.NewPCG(11, 12))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), -float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	sprinkle := func(n int) []float32 {
		s := randSlice(rng, n)
		for i := range s {
			if rng.IntN(20) == 0 {
				s[i] = special[rng.IntN(len(special))]
			}
		}
		return s
	}
	as32 := func(s []float64) []float32 { // both halves of each float64, bit for bit
		out := make([]float32, 2*len(s))
		for i, v := range s {
			b := math.Float64bits(v)
			out[2*i], out[2*i+1] = math.Float32frombits(uint32(b)), math.Float32frombits(uint32(b>>32))
		}
		return out
	}
	for _, ch := range []int{16, 32, 64} {
		for _, rows := range []int{1, 5, 257} {
			x, z, mu := sprinkle(rows*ch), sprinkle(rows*ch), randSlice(rng, ch)
			ka, kb, kc := randSlice(rng, ch), randSlice(rng, ch), randSlice(rng, ch)
			for _, relu := range []bool{false, true} {
				name := fmt.Sprintf("ch=%d/rows=%d/relu=%v", ch, rows, relu)
				visit("sums", name+"/sums", func() []float32 {
					s1, s2 := make([]float64, ch), make([]float64, ch)
					sumsBlock(x, rows, ch, mu, s1, s2, relu)
					return append(as32(s1), as32(s2)...)
				})
				visit("dots", name+"/dots", func() []float32 {
					s1, s2 := make([]float64, ch), make([]float64, ch)
					dotsBlock(x, z, rows, ch, mu, s1, s2, relu)
					return append(as32(s1), as32(s2)...)
				})
			}
			for _, s := range []rowSteps{{}, {reluIn: true}, {reluOut: true}, {reluIn: true, maskOut: true}} {
				for _, zs := range [][]float32{z, nil} {
					visit("affine", fmt.Sprintf("ch=%d/rows=%d/affine %+v, z %t", ch, rows, s, zs != nil), func() []float32 {
						y := make([]float32, len(x))
						affineRows(y, x, zs, rows, ch, ka, mu, kb, kc, s)
						return y
					})
				}
			}
		}
	}
	for _, n := range []int{16, 48, 1000} {
		a, b, moments := sprinkle(n), sprinkle(n), sprinkle(n)
		visit("relu", "relu", func() []float32 { y := make([]float32, n); relu(y, a); return y })
		visit("relu backward", "relu backward", func() []float32 { y := make([]float32, n); reluBackward(y, b, a); return y })
		visit("add", "add", func() []float32 { y := make([]float32, n); add(y, a, b); return y })
		visit("adam", "adam", func() []float32 {
			// m apart from the gradient b: with m = b the first moment's
			// update is m + 0, and its rounding goes untested.
			p, m, v := append([]float32(nil), a...), append([]float32(nil), moments...), make([]float32, n)
			for i := range v {
				v[i] = a[i] * a[i]
			}
			adamUpdate(p, b, m, v, 1e-3, 0.9, 0.999, 1e-7)
			return append(append(p, m...), v...)
		})
	}
	for _, ch := range []int{16, 32} {
		for _, ow := range []int{1, 13} {
			top, bottom := make([]float32, 2*ow*ch), make([]float32, 2*ow*ch)
			for i := range top {
				top[i], bottom[i] = float32(rng.IntN(3)), float32(rng.IntN(3)) // ties
			}
			top[0], bottom[1] = float32(math.NaN()), float32(math.Inf(1))
			dy := sprinkle(ow * ch)
			visit("max pool", "max pool", func() []float32 { y := make([]float32, ow*ch); maxPoolRow(y, top, bottom, ow, ch); return y })
			visit("max pool backward", "max pool backward", func() []float32 {
				dt, db := make([]float32, 2*ow*ch), make([]float32, 2*ow*ch)
				maxPoolBackwardRow(dt, db, dy, top, bottom, ow, ch)
				return append(dt, db...)
			})
		}
	}
}

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// asmISA is an assembly strided kernel and the flags that pick it in
// stridedKernel (AVX2: AVX-512 off, as on a CPU without it).
type asmISA struct {
	name         string
	avx2, avx512 bool
}

// asmISAs are the assembly kernel sets this CPU runs.
func asmISAs() []asmISA {
	var out []asmISA
	for _, k := range []asmISA{{"avx2", true, false}, {"avx512", true, true}} {
		if k.avx2 && !hasAVX2 || k.avx512 && !hasAVX512 {
			continue
		}
		out = append(out, k)
	}
	if hasNEON {
		out = append(out, asmISA{"neon", false, false}) // the NEON kernel needs neither x86 flag
	}
	return out
}

// withISA runs f with stridedKernel set to the named kernel and restores
// the CPU's own choice after.
func withISA(avx2, avx512 bool, f func()) {
	saved := [2]bool{hasAVX2, hasAVX512}
	defer func() { hasAVX2, hasAVX512 = saved[0], saved[1] }()
	hasAVX2, hasAVX512 = avx2, avx512
	f()
}

// TestStridedKernel runs every row count of each assembly kernel against
// stridedGo on odd strides, several taps, empty loops, both store modes,
// with and without a bias; where the CPU has both, the AVX2 kernel (which
// cuts the tile into 6×16 runs) must give the AVX-512 kernel's bits.
func TestStridedKernel(t *testing.T) {
	isas := asmISAs()
	if len(isas) == 0 {
		t.Skip("no AVX2/FMA, AVX-512 or NEON on this CPU (or -tags purego): only the portable kernel exists")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, isa := range isas {
		for mr := 1; mr <= maxMR; mr++ {
			for _, tc := range []struct {
				offs                []int
				kPerTap, ar, ap, bp int
			}{
				{[]int{0}, 1, 1, 1, 32},
				{[]int{0}, 7, 3, 1, 33},
				{[]int{5, 0, 17}, 9, 32, 1, 64},
				{[]int{2, 40}, 13, 1, 37, 40},
				{[]int{0}, 0, 1, 1, 32},
				{nil, 4, 1, 1, 32},
			} {
				for _, mode := range []struct{ accumulate, bias bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
					accumulate := mode.accumulate
					name := fmt.Sprintf("%s/mr=%d/offs=%v/k=%d/ar=%d/ap=%d/bp=%d/acc=%v/bias=%v", isa.name, mr, tc.offs, tc.kPerTap, tc.ar, tc.ap, tc.bp, accumulate, mode.bias)
					var bias []float32
					if mode.bias {
						bias = randSlice(rng, stridedCols)
					}
					top := 0
					for _, o := range tc.offs {
						top = max(top, o)
					}
					a := randSlice(rng, top+max(tc.kPerTap-1, 0)*tc.ap+(mr-1)*tc.ar+1)
					b := randSlice(rng, max(len(tc.offs)*tc.kPerTap-1, 0)*tc.bp+stridedCols)
					init := randSlice(rng, maxMR*40)
					var got, want, wide stridedCall
					for _, s := range []*stridedCall{&got, &want, &wide} {
						*s = stridedCall{a: a, offs: tc.offs, kPerTap: tc.kPerTap, ar: tc.ar, ap: tc.ap, b: b, bp: tc.bp, mr: mr, bias: bias}
						s.offsBytes = make([]int, len(tc.offs))
						for i, o := range tc.offs {
							s.offsBytes[i] = 4 * o
						}
						c := append([]float32(nil), init...)
						for r := range mr {
							s.rows[r] = c[r*40 : r*40+stridedCols] // rows 40 apart: the kernel must not touch the gaps
						}
					}
					withISA(isa.avx2, isa.avx512, func() { stridedKernel(&got, accumulate) })
					if isa.name == "avx2" && hasAVX512 {
						stridedKernel(&wide, accumulate)
						for r := range mr {
							for j, w := range wide.rows[r][:40] {
								if g := got.rows[r][:40][j]; math.Float32bits(g) != math.Float32bits(w) {
									t.Fatalf("%s: row %d col %d = %g, the AVX-512 kernel %g", name, r, j, g, w)
								}
							}
						}
					}
					stridedGo(&want, accumulate)
					for r := range mr {
						g, w := got.rows[r][:40], want.rows[r][:40]
						if r == mr-1 {
							g, w = g[:stridedCols], w[:stridedCols]
						}
						for j := range g {
							if d := math.Abs(float64(g[j] - w[j])); d > 1e-5*(1+math.Abs(float64(w[j]))) {
								t.Fatalf("%s: row %d col %d = %g, want %g", name, r, j, g[j], w[j])
							}
						}
					}
				}
			}
		}
	}
}

// TestStridedKernelSpecialValues feeds each assembly kernel NaN, ±Inf and
// ±0 among small integers, whose products and sums are exact, so that FMA
// and the portable kernel's separate multiply and add must agree to the
// bit: a NaN stays a NaN (0·Inf makes one), an Inf survives finite terms,
// Inf-Inf is a NaN, and a -0 bias plus -0 products stays -0.
func TestStridedKernelSpecialValues(t *testing.T) {
	isas := asmISAs()
	if len(isas) == 0 {
		t.Skip("no AVX2/FMA, AVX-512 or NEON on this CPU (or -tags purego): only the portable kernel exists")
	}
	nan, inf, negZero := float32(math.NaN()), float32(math.Inf(1)), float32(math.Copysign(0, -1))
	pool := []float32{0, negZero, 1, -1, 2, -3, 0.5, inf, -inf, nan}
	rng := rand.New(rand.NewPCG(7, 8))
	pick := func(n int, special float64) []float32 {
		s := make([]float32, n)
		for i := range s {
			if rng.Float64() < special {
				s[i] = pool[rng.IntN(len(pool))]
			} else {
				s[i] = float32(rng.IntN(9) - 4)
			}
		}
		return s
	}
	for _, isa := range isas {
		for mr := 1; mr <= maxMR; mr++ {
			for _, mode := range []struct{ accumulate, bias bool }{{false, false}, {true, true}, {false, true}} {
				for trial := range 4 {
					const kPerTap = 5
					offs := []int{0, 3}
					a := pick(3+(kPerTap-1)*2+(mr-1)*7+1, 0.05)
					b := pick((2*kPerTap-1)*32+stridedCols, 0.05)
					var bias []float32
					if mode.bias {
						bias = pick(stridedCols, 0.3)
						if trial == 0 {
							for j := range bias {
								bias[j] = negZero // with -0 products: stays -0
							}
							for i := range a {
								a[i] = 0
							}
						}
					}
					init := pick(maxMR*32, 0.1)
					var got, want stridedCall
					for _, s := range []*stridedCall{&got, &want} {
						*s = stridedCall{a: a, offs: offs, offsBytes: []int{0, 12}, kPerTap: kPerTap, ar: 7, ap: 2, b: b, bp: 32, mr: mr, bias: bias}
						c := append([]float32(nil), init...)
						for r := range mr {
							s.rows[r] = c[r*32 : r*32+32]
						}
					}
					withISA(isa.avx2, isa.avx512, func() { stridedKernel(&got, mode.accumulate) })
					stridedGo(&want, mode.accumulate)
					for r := range mr {
						for j, w := range want.rows[r] {
							g := got.rows[r][j]
							same := math.Float32bits(g) == math.Float32bits(w) || g != g && w != w
							if !same {
								t.Fatalf("%s/mr=%d/acc=%v/bias=%v/trial=%d: row %d col %d = %g (bits %08x), want %g (bits %08x)",
									isa.name, mr, mode.accumulate, mode.bias, trial, r, j, g, math.Float32bits(g), w, math.Float32bits(w))
							}
						}
					}
				}
			}
		}
	}
}

// BenchmarkStridedKernel is each assembly kernel alone on L1-resident
// data, the ceiling for the direct convolution (one core).
func BenchmarkStridedKernel(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, isa := range asmISAs() {
		for _, mr := range []int{6, 8, 12, 13, 14} {
			b.Run(fmt.Sprintf("%s/%dx32", isa.name, mr), func(b *testing.B) {
				const k = 288
				s := stridedCall{a: randSlice(rng, k+mr*32), offs: []int{0}, offsBytes: []int{0}, kPerTap: k, ar: 32, ap: 1, b: randSlice(rng, k*32), bp: 32, mr: mr}
				c := make([]float32, mr*32)
				for r := range mr {
					s.rows[r] = c[r*32 : r*32+32]
				}
				withISA(isa.avx2, isa.avx512, func() {
					for b.Loop() {
						stridedKernel(&s, true)
					}
				})
				b.ReportMetric(2*float64(mr*32*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestDirectWhereAssemblyRuns checks the CPU's own choice, before any test
// changes it: the direct convolution runs wherever an assembly strided
// kernel does, AVX2 and NEON included (an AVX2-only CPU on the packed GEMM instead
// trains about 2-3× slower), and not on the portable path, where the
// packed GEMM is the faster one.
func TestDirectWhereAssemblyRuns(t *testing.T) {
	if directConv != (hasAVX2 || hasAVX512 || hasNEON) {
		t.Fatalf("direct convolution %t with AVX2 %t, AVX-512 %t: it should run exactly where an assembly strided kernel does (%s)", directConv, hasAVX2, hasAVX512, kernelName())
	}
}

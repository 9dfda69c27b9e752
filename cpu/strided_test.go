package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestStridedKernel runs every row count of the assembly kernel against
// stridedGo on odd strides, several taps, empty loops, both store modes,
// with and without a bias.
func TestStridedKernel(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512 on this CPU (or -tags purego): only the portable kernel exists")
	}
	rng := rand.New(rand.NewPCG(5, 6))
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
				name := fmt.Sprintf("mr=%d/offs=%v/k=%d/ar=%d/ap=%d/bp=%d/acc=%v/bias=%v", mr, tc.offs, tc.kPerTap, tc.ar, tc.ap, tc.bp, accumulate, mode.bias)
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
				var got, want stridedCall
				for _, s := range []*stridedCall{&got, &want} {
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
				stridedKernel(&got, accumulate)
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

// BenchmarkStridedKernel is the kernel alone on L1-resident data, the
// ceiling for the direct convolution (one core).
func BenchmarkStridedKernel(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, mr := range []int{8, 12, 14} {
		b.Run(fmt.Sprintf("%dx32", mr), func(b *testing.B) {
			const k = 288
			s := stridedCall{a: randSlice(rng, k+mr*32), offs: []int{0}, offsBytes: []int{0}, kPerTap: k, ar: 32, ap: 1, b: randSlice(rng, k*32), bp: 32, mr: mr}
			c := make([]float32, mr*32)
			for r := range mr {
				s.rows[r] = c[r*32 : r*32+32]
			}
			for b.Loop() {
				stridedKernel(&s, true)
			}
			b.ReportMetric(2*float64(mr*32*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

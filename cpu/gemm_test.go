package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// naiveGemm is the float64 reference for gemm.
func naiveGemm(transA, transB bool, m, n, k int, a, b []float32, beta float32, c []float32) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			sum := float64(beta) * float64(c[i*n+j])
			for p := 0; p < k; p++ {
				av := a[i*k+p]
				if transA {
					av = a[p*m+i]
				}
				bv := b[p*n+j]
				if transB {
					bv = b[j*k+p]
				}
				sum += float64(av) * float64(bv)
			}
			out[i*n+j] = sum
		}
	}
	return out
}

// TestGemm checks every transpose combination on shapes that hit full
// tiles, edge tiles, several k blocks, uneven worker splits and the strided
// GEMM's split over k, with each kernel this CPU can run: the portable
// packed one, AVX2, the strided one in Go and in AVX-512.
func TestGemm(t *testing.T) {
	shapes := [][3]int{{1, 1, 1}, {6, 16, 3}, {7, 17, 5}, {13, 33, 400}, {64, 10, 128}, {100, 32, 288}, {50, 800, 32}, {288, 32, 1000}, {40, 32, 3000}, {15, 96, 1030}, {64, 200, 40}, {32, 33, 7}}
	type variant struct {
		name                     string
		avx2, avx512, directConv bool
	}
	variants := []variant{{"go", false, false, false}, {"strided-go", false, false, true}}
	if hasAVX2 {
		variants = append(variants, variant{"avx2", true, false, false}, variant{"strided-avx2", true, false, true})
	}
	if hasAVX512 {
		variants = append(variants, variant{"strided-avx512", hasAVX2, true, true})
	}
	saved := variant{"", hasAVX2, hasAVX512, directConv}
	defer func() { hasAVX2, hasAVX512, directConv = saved.avx2, saved.avx512, saved.directConv }()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, v := range variants {
		hasAVX2, hasAVX512, directConv = v.avx2, v.avx512, v.directConv
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				for _, beta := range []float32{0, 1, 0.5} {
					m, n, k := s[0], s[1], s[2]
					name := fmt.Sprintf("%s/%dx%dx%d/tA=%v/tB=%v/beta=%g", v.name, m, n, k, tr[0], tr[1], beta)
					a, b, c := randSlice(rng, m*k), randSlice(rng, k*n), randSlice(rng, m*n)
					want := naiveGemm(tr[0], tr[1], m, n, k, a, b, beta, c)
					New().gemm(tr[0], tr[1], m, n, k, a, b, beta, c)
					for i, w := range want {
						e := math.Abs(float64(c[i])-w) / (1e-4*math.Sqrt(float64(k)) + 1e-5*math.Abs(w))
						if e > 1 {
							t.Fatalf("%s: c[%d] = %g, want %g", name, i, c[i], w)
						}
					}
				}
			}
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.Float64()*2 - 1)
	}
	return s
}

// gemmShapes are the conv shapes of the model as plain GEMMs (k=3 block,
// batch 64): forward, the weight gradient and the column gradient, and
// the k=5 forward.
var gemmShapes = []struct {
	name    string
	tA, tB  bool
	m, n, k int
}{
	{"fwd_43264x32x288", false, false, 43264, 32, 288},
	{"dw_288x32x43264", true, false, 288, 32, 43264},
	{"dcols_43264x288x32", false, true, 43264, 288, 32},
	{"fwd_k5_43264x32x800", false, false, 43264, 32, 800},
	{"dense_fwd_64x128x9216", false, false, 64, 128, 9216},
	{"dense_dw_9216x128x64", true, false, 9216, 128, 64},
	{"dense_dx_64x9216x128", false, true, 64, 9216, 128},
}

// BenchmarkGemm measures gemmShapes.
func BenchmarkGemm(b *testing.B) {
	for _, s := range gemmShapes {
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			aa, bb, cc := randSlice(rng, s.m*s.k), randSlice(rng, s.k*s.n), make([]float32, s.m*s.n)
			be := New()
			be.gemm(s.tA, s.tB, s.m, s.n, s.k, aa, bb, 0, cc)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				be.gemm(s.tA, s.tB, s.m, s.n, s.k, aa, bb, 0, cc)
			}
			b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

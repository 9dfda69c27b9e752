//go:build openblas

package cpu

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/mnistgpu/mnistgpu/bench/openblas"
)

// BenchmarkVsOpenBLAS times this backend's GEMM and OpenBLAS's cblas_sgemm
// on the same shapes, same operands and same thread count, alternating
// calls so that both see the same machine load, and reports both rates and
// their ratio. The conv rows time the direct convolution against
// cblas_sgemm on the equivalent im2col product, with OpenBLAS given the
// column matrix for free (the im2col copy is not timed). Run with
// `make bench-cpu` (needs -tags openblas and libopenblas-dev).
func BenchmarkVsOpenBLAS(b *testing.B) {
	threads := runtime.GOMAXPROCS(0)
	openblas.SetThreads(threads)
	fmt.Printf("OpenBLAS %s, %d threads; ours: %s\n", openblas.Config(), threads, kernelName())
	// A square product too, where OpenBLAS is at its best: the model's
	// shapes are tall and thin, this one is not.
	square := gemmShapes[0]
	square.name, square.m, square.n, square.k = "square_2048x2048x2048", 2048, 2048, 2048
	for _, s := range append(gemmShapes, square) {
		b.Run("gemm_"+s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			aa, bb := randSlice(rng, s.m*s.k), randSlice(rng, s.k*s.n)
			c1, c2 := make([]float32, s.m*s.n), make([]float32, s.m*s.n)
			be := New()
			ours := func() { be.gemm(s.tA, s.tB, s.m, s.n, s.k, aa, bb, 0, c1) }
			theirs := func() { openblas.Sgemm(s.tA, s.tB, s.m, s.n, s.k, aa, bb, 0, c2) }
			sideBySide(b, 2*float64(s.m*s.n*s.k), ours, theirs)
		})
	}
	for _, s := range convShapes {
		g := newConvGeom(s.x.n, s.x.h, s.x.w, s.x.c, s.k.kh, s.k.kw, s.k.cout, s.pad, s.pad)
		pixels := g.n * g.rowsPerImage
		r := newRand(1500)
		xs, ws := to32(randVals(r, s.x.len(), 1)), to32(randVals(r, s.k.len(), 0.1))
		dys := to32(randVals(r, pixels*g.cout, 1))
		cols := im2col(xs, g) // built once, untimed
		be := New()
		y, dw := make([]float32, pixels*g.cout), make([]float32, g.k*g.cout)
		c2, dw2 := make([]float32, pixels*g.cout), make([]float32, g.k*g.cout)
		flops := 2 * float64(pixels*g.cout*g.k)
		b.Run("conv_"+s.name+"/forward", func(b *testing.B) {
			sideBySide(b, flops, func() { be.conv(y, xs, ws, g, 0) },
				func() { openblas.Sgemm(false, false, pixels, g.cout, g.k, cols, ws, 0, c2) })
		})
		b.Run("conv_"+s.name+"/weights", func(b *testing.B) {
			sideBySide(b, flops, func() { be.convWeights(dw, dys, xs, g) },
				func() { openblas.Sgemm(true, false, g.k, g.cout, pixels, cols, dys, 0, dw2) })
		})
	}
}

// sideBySide runs ours and theirs alternately and reports GFLOP/s of each
// and ours/theirs.
func sideBySide(b *testing.B, flops float64, ours, theirs func()) {
	ours()
	theirs()
	var tOurs, tTheirs time.Duration
	for b.Loop() {
		start := time.Now()
		ours()
		mid := time.Now()
		theirs()
		tOurs += mid.Sub(start)
		tTheirs += time.Since(mid)
	}
	rOurs := flops * float64(b.N) / tOurs.Seconds() / 1e9
	rTheirs := flops * float64(b.N) / tTheirs.Seconds() / 1e9
	b.ReportMetric(rOurs, "ours-GFLOP/s")
	b.ReportMetric(rTheirs, "openblas-GFLOP/s")
	b.ReportMetric(rOurs/rTheirs, "ratio")
}

// im2col is the column matrix of x: one row per output pixel, one column
// per kernel tap and input channel.
func im2col(x []float32, g convGeom) []float32 {
	cols := make([]float32, g.n*g.rowsPerImage*g.k)
	a := imageCols{x, g}
	for i := range g.n * g.rowsPerImage {
		img, oy, ox := a.pixel(i)
		for _, run := range a.runs(nil, 0, g.k) {
			copy(cols[i*g.k+run.col:], a.source(run, img, oy, ox))
		}
	}
	return cols
}

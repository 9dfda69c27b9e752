package cpu

import (
	"math"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// TestSameBitsAnyWorkers runs the ops whose work is split across workers
// (convolutions and their gradients, batch norm, a split-k and a row-split
// product) with 1, 2, 3 and 8 workers, on each kernel set this CPU runs
// (forEachKernelSet): every result must be the same to the bit, so that a
// training run repeats exactly and does not depend on the machine's core
// count.
func TestSameBitsAnyWorkers(t *testing.T) { forEachKernelSet(t, sameBitsAnyWorkers) }

func sameBitsAnyWorkers(t *testing.T) {
	tc := convCase{"k3 same 32-32", nhwc{5, 9, 7, 32}, kernel{3, 3, 32, 32}, 1}
	run := func(workers int) [][]float64 {
		c := newWithPool(newWorkerPoolOf(workers))
		defer c.Close()
		in := newConvInputs(t, c, tc, 900)
		ys := in.ys
		y := c.Alloc(ys.n, ys.h, ys.w, ys.c)
		c.Conv2D(y, in.x, in.w, in.b, tc.pad)
		dx, dw, db := c.Alloc(tc.x.n, tc.x.h, tc.x.w, tc.x.c), c.Alloc(tc.k.kh, tc.k.kw, tc.k.cin, tc.k.cout), c.Alloc(tc.k.cout)
		c.Conv2DBackward(dx, dw, db, in.dy, in.x, in.w, tc.pad)
		ch := ys.c
		g, b, mm, mv := c.Alloc(ch), c.Alloc(ch), c.Alloc(ch), c.Alloc(ch)
		c.Fill(g, 1.5)
		c.Fill(mv, 1)
		bn, mean, invStd := c.Alloc(ys.n, ys.h, ys.w, ys.c), c.Alloc(ch), c.Alloc(ch)
		c.BatchNormTrain(bn, mean, invStd, y, g, b, mm, mv, 0.99, 1e-3)
		dbn, dg, dbeta := c.Alloc(ys.n, ys.h, ys.w, ys.c), c.Alloc(ch), c.Alloc(ch)
		c.BatchNormBackward(dbn, dg, dbeta, in.dy, y, g, mean, invStd)
		// Split over k (small product, long k) and over rows.
		r := newRand(901)
		a, bb := to32(randVals(r, 20*3000, 1)), to32(randVals(r, 3000*64, 1))
		splitK, rows := make([]float32, 20*64), make([]float32, 3000*64)
		c.gemm(false, false, 20, 64, 3000, a, bb, 0, splitK)
		c.gemm(true, false, 3000, 64, 20, a, bb, 0, rows)
		mustSync(t, c)
		out := [][]float64{to64(splitK), to64(rows)}
		for _, x := range []backend.Tensor{y, dx, dw, db, bn, mean, invStd, mm, mv, dbn, dg, dbeta} {
			out = append(out, download(t, c, x))
		}
		return out
	}
	want := run(1)
	for _, workers := range []int{2, 3, 8} {
		got := run(workers)
		for i := range want {
			for j := range want[i] {
				if math.Float64bits(got[i][j]) != math.Float64bits(want[i][j]) {
					t.Fatalf("%d workers: result %d differs at %d: %g, with 1 worker %g", workers, i, j, got[i][j], want[i][j])
				}
			}
		}
	}
}

// TestSameBitsAnyWorkersEachDirectKernel is TestSameBitsAnyWorkers on the
// direct path with each strided kernel the CPU runs, NEON included, which
// no MNISTGPU_CPU_KERNEL set names (arm64's own choice is the NEON
// direct path; its named sets are the portable ones).
func TestSameBitsAnyWorkersEachDirectKernel(t *testing.T) {
	forEachDirectKernel(func(isa string, _ *Backend) { t.Run(isa, sameBitsAnyWorkers) })
}

package cpu

import (
	"fmt"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// convShapes are the model's convolutions after the first (batch 64).
var convShapes = []convCase{
	{"26x26x32 k3 same", nhwc{64, 26, 26, 32}, kernel{3, 3, 32, 32}, 1},
	{"26x26x32 k5 same", nhwc{64, 26, 26, 32}, kernel{5, 5, 32, 32}, 2},
	{"26x26x32 to 24x24x64 k3 valid", nhwc{64, 26, 26, 32}, kernel{3, 3, 32, 64}, 0},
}

// BenchmarkConv2D times the convolution alone on the model's shapes (batch
// 64) and reports GFLOP/s: 2·N·OH·OW·Cout·KH·KW·Cin for the forward pass,
// twice that for the backward pass (dw and dx).
func BenchmarkConv2D(b *testing.B) {
	for _, s := range convShapes {
		ys := convOut(s.x, s.k, s.pad)
		flops := 2 * float64(ys.len()) * float64(s.k.kh*s.k.kw*s.k.cin)
		c := New()
		r := newRand(1500)
		x := upload(b, c, randVals(r, s.x.len(), 1), s.x.n, s.x.h, s.x.w, s.x.c)
		w := upload(b, c, randVals(r, s.k.len(), 0.1), s.k.kh, s.k.kw, s.k.cin, s.k.cout)
		bias := upload(b, c, randVals(r, s.k.cout, 0.1), s.k.cout)
		dy := upload(b, c, randVals(r, ys.len(), 1), ys.n, ys.h, ys.w, ys.c)
		y, dx := c.Alloc(ys.n, ys.h, ys.w, ys.c), c.Alloc(s.x.n, s.x.h, s.x.w, s.x.c)
		dw, db := c.Alloc(s.k.kh, s.k.kw, s.k.cin, s.k.cout), c.Alloc(s.k.cout)

		b.Run(s.name+"/forward", func(b *testing.B) {
			c.Conv2D(y, x, w, bias, s.pad) // grow the buffers outside the timing
			b.ReportAllocs()
			for b.Loop() {
				c.Conv2D(y, x, w, bias, s.pad)
			}
			mustSync(b, c)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(s.name+"/backward", func(b *testing.B) {
			c.Conv2DBackward(dx, dw, db, dy, x, w, s.pad)
			b.ReportAllocs()
			for b.Loop() {
				c.Conv2DBackward(dx, dw, db, dy, x, w, s.pad)
			}
			mustSync(b, c)
			b.ReportMetric(2*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkApplyWorkingSet runs the forward batch-norm apply (ReLU, one read
// and one write of a 64x26x26x32 activation, 11 MB of traffic) over sets
// separate (x, y) pairs in turn, so each call's tensors were last touched
// sets-1 calls earlier: from 1 set (11 MB, in cache) to 12 (132 MB, more
// than a training step's working set). It measures the memory rate the
// passes outside GEMM get on this machine (bench/notes/cpu-outside-gemm.md).
// Every x holds random values (pages never written would all read the
// kernel's one zero page, from cache) and every pair is written once
// before the timing, so no page faults are timed.
func BenchmarkApplyWorkingSet(b *testing.B) {
	c := New()
	shape := []int{64, 26, 26, 32}
	r := newRand(1700)
	p := newBNInputs(r, shape[3]).upload(b, c)
	for _, sets := range []int{1, 4, 8, 12} {
		xs, ys := make([]backend.Tensor, sets), make([]backend.Tensor, sets)
		for i := range sets {
			xs[i], ys[i] = upload(b, c, randVals(r, numElements(shape), 2), shape...), c.Alloc(shape...)
		}
		// Real statistics for the apply, then one untimed pass.
		c.reluBatchNormTrain(ys[0], p.saveMean, p.saveInvStd, xs[0], p.gamma, p.beta, p.movMean, p.movVar, bnMomentum, bnEps)
		for i := range sets {
			c.reluBatchNormApply(ys[i], xs[i], p.gamma, p.beta, p.saveMean, p.saveInvStd)
		}
		b.Run(fmt.Sprintf("sets=%d/%dMiB", sets, sets*2*numElements(shape)*4>>20), func(b *testing.B) {
			b.SetBytes(int64(2 * numElements(shape) * 4))
			i := 0
			for b.Loop() {
				c.reluBatchNormApply(ys[i], xs[i], p.gamma, p.beta, p.saveMean, p.saveInvStd)
				i = (i + 1) % sets
			}
			mustSync(b, c)
		})
	}
}

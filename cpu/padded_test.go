package cpu

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// TestPaddedActivations runs every op that takes a tensor stored padded
// (allocPadded) once with it and once with the same values stored plain:
// the results must be the same bits, and the padded tensor's border must
// stay zero. Cases cover the direct convolution reading it in place (both
// kernels), a convolution whose padding differs from the tensor's and the
// GEMM path (both copy it out to the plain layout), and a 5x5 kernel.
func TestPaddedActivations(t *testing.T) {
	cases := []struct {
		convCase
		stored  int  // the padding the tensors are stored with
		inPlace bool // the convolution reads the stored tensor itself
	}{
		{convCase{"k3 same, read in place", nhwc{3, 9, 7, 32}, kernel{3, 3, 32, 32}, 1}, 1, true},
		{convCase{"k5 same, read in place", nhwc{2, 8, 6, 32}, kernel{5, 5, 32, 32}, 2}, 2, true},
		{convCase{"k5 pad 2 on a tensor padded 1, copied out", nhwc{2, 8, 6, 32}, kernel{5, 5, 32, 32}, 2}, 1, false},
		{convCase{"k3 valid on a padded tensor, copied out", nhwc{2, 7, 6, 32}, kernel{3, 3, 32, 64}, 0}, 1, false},
		{convCase{"gemm path, 16 out, copied out", nhwc{2, 6, 5, 32}, kernel{3, 3, 32, 16}, 1}, 1, false},
	}
	forEachDirectKernel(func(isa string, c *Backend) {
		for i, tc := range cases {
			t.Run(fmt.Sprintf("%s/%s", isa, tc.name), func(t *testing.T) {
				checkPaddedActivations(t, c, tc.convCase, tc.stored, uint64(2100+i))
				// Reading in place is the point: a tensor without enough
				// slack would quietly be copied out, with the same results.
				xs := tc.x
				p := c.allocPadded(tc.stored, xs.n, xs.h, xs.w, xs.c)
				g := newConvGeom(xs.n, xs.h, xs.w, xs.c, tc.k.kh, tc.k.kw, tc.k.cout, tc.pad, tc.pad)
				var scratch []float32
				if in := c.convInput(p, g, &scratch); in.padded != tc.inPlace {
					t.Errorf("read in place: %v, want %v", in.padded, tc.inPlace)
				}
			})
		}
	})
}

// uploadPadded stores v (shape s) padded by pad and checks that it reads
// back the same and that its border is zero.
func uploadPadded(t *testing.T, c *Backend, v []float64, pad int, s nhwc) backend.Tensor {
	t.Helper()
	p := c.allocPadded(pad, s.n, s.h, s.w, s.c)
	if asTensor(p).pad != pad {
		t.Fatalf("allocPadded(%d) on the direct path stored padding %d", pad, asTensor(p).pad)
	}
	if err := c.Upload(p, to32(v)); err != nil {
		t.Fatal(err)
	}
	checkClose(t, "padded upload read back", download(t, c, p), to64(to32(v)), 0, 0)
	checkBorderZero(t, p)
	return p
}

// checkBorderZero fails if anything outside a padded tensor's rows is not
// zero: the convolutions read the border as the padding.
func checkBorderZero(t *testing.T, p backend.Tensor) {
	t.Helper()
	pt := asTensor(p)
	f := append([]float32(nil), pt.f...)
	l := layoutOf(pt)
	for r := range pt.shape[0] * l.h {
		clear(f[l.start(r) : l.start(r)+l.w*l.ch])
	}
	for i, v := range f {
		if v != 0 {
			t.Fatalf("padded tensor: element %d of the border or slack is %g, want 0", i, v)
		}
	}
}

func checkPaddedActivations(t *testing.T, c *Backend, tc convCase, stored int, seed uint64) {
	in := newConvInputs(t, c, tc, seed)
	xs, ys := tc.x, in.ys
	xShape := []int{xs.n, xs.h, xs.w, xs.c}
	r := newRand(seed + 1)
	xp := uploadPadded(t, c, in.xv, stored, xs)
	maskVals := randVals(r, xs.len(), 1)
	for j := 0; j < len(maskVals); j += 5 {
		maskVals[j] = 0
	}
	mask, maskP := upload(t, c, maskVals, xShape...), uploadPadded(t, c, maskVals, stored, xs)
	nextX, nextP := bnBackwardInputs(t, c, r, xShape)
	yShape := []int{ys.n, ys.h, ys.w, ys.c}
	p := newBNInputs(r, ys.c)

	type run struct {
		y, dx, dw, db, dgamma, dbeta backend.Tensor
		bn                           bnState // the statistics conv2DBatchStats wrote
	}
	one := func(x, mask backend.Tensor) run {
		s := p.upload(t, c)
		o := run{y: garbage(c, yShape...), dx: garbage(c, xShape...), dw: garbage(c, tc.k.kh, tc.k.kw, tc.k.cin, tc.k.cout),
			db: garbage(c, ys.c), dgamma: garbage(c, xs.c), dbeta: garbage(c, xs.c)}
		c.conv2DBatchStats(o.y, s.saveMean, s.saveInvStd, x, in.w, in.b, tc.pad, true, s.movMean, s.movVar, bnMomentum, bnEps)
		o.bn = s
		c.conv2DBackwardBN(o.dx, o.dw, o.db, garbage(c, yShape...), x, in.w, tc.pad,
			bnGradient{G: in.dy, X: o.y, Gamma: s.gamma, SaveMean: s.saveMean, SaveInvStd: s.saveInvStd, DGamma: s.gamma, DBeta: s.beta},
			bnSums{Mask: mask, X: nextX, SaveMean: nextP.saveMean, SaveInvStd: nextP.saveInvStd, DGamma: o.dgamma, DBeta: o.dbeta})
		return o
	}
	plain, padded := one(in.x, mask), one(xp, maskP)
	plainY := garbage(c, yShape...)
	c.Conv2D(plainY, in.x, in.w, in.b, tc.pad)
	paddedY := garbage(c, yShape...)
	c.Conv2D(paddedY, xp, in.w, in.b, tc.pad)
	checkBits(t, c, []string{"conv2d", "conv2d batch stats y", "saved mean", "saved inverse std", "moving mean", "moving var", "dx", "dw", "db", "next dgamma", "next dbeta"},
		[]backend.Tensor{paddedY, padded.y, padded.bn.saveMean, padded.bn.saveInvStd, padded.bn.movMean, padded.bn.movVar, padded.dx, padded.dw, padded.db, padded.dgamma, padded.dbeta},
		[]backend.Tensor{plainY, plain.y, plain.bn.saveMean, plain.bn.saveInvStd, plain.bn.movMean, plain.bn.movVar, plain.dx, plain.dw, plain.db, plain.dgamma, plain.dbeta})

	// The batch norms that write such a tensor, one with a padded addend.
	s := p.upload(t, c)
	c.conv2DBatchStats(garbage(c, yShape...), s.saveMean, s.saveInvStd, in.x, in.w, in.b, tc.pad, false, s.movMean, s.movVar, bnMomentum, bnEps)
	z := randVals(r, ys.len(), 1)
	zPlain, zPadded := upload(t, c, z, yShape...), uploadPadded(t, c, z, stored, ys)
	reluPlain, reluPadded := garbage(c, yShape...), c.allocPadded(stored, ys.n, ys.h, ys.w, ys.c)
	addPlain, addPadded := garbage(c, yShape...), c.allocPadded(stored, ys.n, ys.h, ys.w, ys.c)
	addPaddedZ := garbage(c, yShape...) // plain y, padded z: the block's sum
	c.reluBatchNormApply(reluPlain, plainY, s.gamma, s.beta, s.saveMean, s.saveInvStd)
	c.reluBatchNormApply(reluPadded, plainY, s.gamma, s.beta, s.saveMean, s.saveInvStd)
	c.batchNormAddReLUApply(addPlain, plainY, zPlain, s.gamma, s.beta, s.saveMean, s.saveInvStd)
	c.batchNormAddReLUApply(addPadded, plainY, zPadded, s.gamma, s.beta, s.saveMean, s.saveInvStd)
	c.batchNormAddReLUApply(addPaddedZ, plainY, zPadded, s.gamma, s.beta, s.saveMean, s.saveInvStd)
	checkBits(t, c, []string{"relu batchnorm apply", "batchnorm add relu apply", "the same, plain y and padded z"},
		[]backend.Tensor{reluPadded, addPadded, addPaddedZ}, []backend.Tensor{reluPlain, addPlain, addPlain})
	checkBorderZero(t, reluPadded)
	checkBorderZero(t, addPadded)
}

// TestAllocPaddedOffDirectPath: where the direct convolution does not run,
// allocPadded is a plain Alloc (the other paths would copy it out).
func TestAllocPaddedOffDirectPath(t *testing.T) {
	saved := directConv
	defer func() { directConv = saved }()
	directConv = false
	if p := New().allocPadded(1, 2, 5, 5, 32); asTensor(p).pad != 0 {
		t.Errorf("allocPadded off the direct path stored padding %d, want a plain tensor", asTensor(p).pad)
	}
}

// TestPaddedTensorBadUse: an op that reads the plain layout refuses a
// padded tensor with a message that says so (a programming error, like
// passing another backend's tensor, so a panic), and a batch norm writing
// a padded tensor of another shape is one error with nothing written.
func TestPaddedTensorBadUse(t *testing.T) {
	forEachDirectKernel(func(_ string, c *Backend) {
		p := c.allocPadded(1, 2, 5, 5, 32)
		refusesPadded(t, "ReLU of a padded tensor", func() { c.ReLU(c.Alloc(2, 5, 5, 32), p) })
		x := c.Alloc(2, 25, 1, 32) // as many values, another shape
		gamma, beta, mean, invStd := c.Alloc(32), c.Alloc(32), c.Alloc(32), c.Alloc(32)
		c.Fill(invStd, 1)
		c.Fill(beta, 1)
		c.reluBatchNormApply(p, x, gamma, beta, mean, invStd)
		err := c.Sync()
		if err == nil || !strings.Contains(err.Error(), "padded") {
			t.Errorf("apply into a padded tensor of another shape: error %v, want one naming the padded tensor", err)
		}
		checkBorderZero(t, p)
		if got := download(t, c, p); rmsOf(got) != 0 {
			t.Errorf("apply into a padded tensor of another shape wrote into it")
		}
	})
}

// TestPaddedCopyOutSlack: a padded tensor copied out for a 'valid'
// convolution must not lend the convolution whatever an earlier, larger
// copy left past its end as the slack the weight gradient reads: here NaN,
// which times the zero dy of the unused columns would still be NaN.
func TestPaddedCopyOutSlack(t *testing.T) {
	forEachDirectKernel(func(isa string, c *Backend) {
		nan := make([]float32, 2*7*6*32)
		for i := range nan {
			nan[i] = float32(math.NaN())
		}
		big := c.allocPadded(1, 2, 7, 6, 32)
		if err := c.Upload(big, nan); err != nil {
			t.Fatal(err)
		}
		w, b := c.Alloc(3, 3, 32, 32), c.Alloc(32)
		c.Conv2D(c.Alloc(2, 5, 4, 32), big, w, b, 0) // copies 2 images out
		ones := make([]float64, 7*6*32)
		for i := range ones {
			ones[i] = 1
		}
		small := uploadPadded(t, c, ones, 1, nhwc{1, 7, 6, 32})
		dy := c.Alloc(1, 5, 4, 32)
		c.Fill(dy, 1)
		dw := c.Alloc(3, 3, 32, 32)
		c.Conv2DBackward(nil, dw, c.Alloc(32), dy, small, w, 0)
		for i, v := range download(t, c, dw) {
			if v != 20 { // 5×4 pixels of 1·1
				t.Fatalf("%s: dw[%d] = %g, want 20", isa, i, v)
			}
		}
	})
}

// TestPaddedTensorsRefused: a view of a padded tensor is refused (a
// programming error, so a panic naming the layout), a copy to or from
// one is one error, and a padded mask whose shape is not dx's (its rows
// are placed by its own shape) is one error, not a crash in a worker.
func TestPaddedTensorsRefused(t *testing.T) {
	forEachDirectKernel(func(_ string, c *Backend) {
		p := c.allocPadded(1, 2, 5, 5, 32)
		refusesPadded(t, "View of a padded tensor", func() { c.View(p, 0, 10) })
		c.Copy(c.Alloc(2, 5, 5, 32), p)
		if err := c.Sync(); err == nil || !strings.Contains(err.Error(), "padded") {
			t.Errorf("Copy from a padded tensor: error %v, want one naming the padded tensor", err)
		}
		c.Copy(p, c.Alloc(2, 5, 5, 32))
		if err := c.Sync(); err == nil || !strings.Contains(err.Error(), "padded") {
			t.Errorf("Copy into a padded tensor: error %v, want one naming the padded tensor", err)
		}
		in := newConvInputs(t, c, convCase{"k3 same", nhwc{2, 6, 5, 32}, kernel{3, 3, 32, 32}, 1}, 7)
		nextX, nextP := bnBackwardInputs(t, c, newRand(8), []int{2, 6, 5, 32})
		dx, dgamma := c.Alloc(2, 6, 5, 32), c.Alloc(32)
		c.conv2DBackwardBN(dx, c.Alloc(3, 3, 32, 32), c.Alloc(32), in.dy, in.x, in.w, 1, bnGradient{},
			bnSums{Mask: c.allocPadded(1, 2, 5, 6, 32), X: nextX, SaveMean: nextP.saveMean,
				SaveInvStd: nextP.saveInvStd, DGamma: dgamma, DBeta: c.Alloc(32)})
		if err := c.Sync(); err == nil || !strings.Contains(err.Error(), "padded mask") {
			t.Errorf("a padded mask of another shape: error %v, want one naming the padded mask", err)
		}
		if rmsOf(download(t, c, dx)) != 0 || rmsOf(download(t, c, dgamma)) != 0 {
			t.Errorf("a padded mask of another shape: outputs written after the error")
		}
	})
}

// refusesPadded fails unless use panics with a message naming a tensor
// stored padded.
func refusesPadded(t *testing.T, what string, use func()) {
	t.Helper()
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "stored padded") {
			t.Errorf("%s: recovered %v, want a panic naming the padded layout", what, r)
		}
	}()
	use()
}

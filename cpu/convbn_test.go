package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// forwardConvCases are the forward convolutions the fused forward ops are
// checked on: the model's 'same' and 'valid' layers, its one-channel first
// layer, and the GEMM path (channels not a multiple of 32).
var forwardConvCases = []convCase{
	{"k3 same 32-32", nhwc{3, 9, 7, 32}, kernel{3, 3, 32, 32}, 1},
	{"k3 valid 32-64, two tiles a row", nhwc{2, 6, 17, 32}, kernel{3, 3, 32, 64}, 0},
	{"k3 valid cin1", nhwc{2, 8, 7, 1}, kernel{3, 3, 1, 32}, 0},
	{"gemm path, 16 out", nhwc{2, 6, 5, 3}, kernel{3, 3, 3, 16}, 1},
}

// TestConvBatchStats compares conv2DBatchStats followed by
// reluBatchNormApply or batchNormAddReLUApply with Conv2D followed by
// reluBatchNormTrain or batchNormAddReLUTrain: the statistics are added in
// the same order (image by image, pixel by pixel), so every output, saved
// statistic and moving statistic must match to the bit, on the direct
// convolution (assembly and portable kernels) and on the GEMM path
// (channels not a multiple of 32).
func TestConvBatchStats(t *testing.T) {
	cases := forwardConvCases
	forEachDirectKernel(func(isa string, c *Backend) {
		for i, tc := range cases {
			for _, relu := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/%s/relu=%v", isa, tc.name, relu), func(t *testing.T) {
					checkConvBatchStats(t, c, tc, relu, uint64(1700+i))
				})
			}
		}
	})
}

func checkConvBatchStats(t *testing.T, c *Backend, tc convCase, relu bool, seed uint64) {
	in := newConvInputs(t, c, tc, seed)
	ys := in.ys
	bn := newBNInputs(newRand(seed), ys.c)
	z := upload(t, c, in.gv, ys.n, ys.h, ys.w, ys.c) // the residual for BatchNormAddReLU

	p := bn.upload(t, c)
	y, out := garbage(c, ys.n, ys.h, ys.w, ys.c), garbage(c, ys.n, ys.h, ys.w, ys.c)
	c.Conv2D(y, in.x, in.w, in.b, tc.pad)
	if relu {
		c.reluBatchNormTrain(out, p.saveMean, p.saveInvStd, y, p.gamma, p.beta, p.movMean, p.movVar, bnMomentum, bnEps)
	} else {
		c.batchNormAddReLUTrain(out, p.saveMean, p.saveInvStd, y, z, p.gamma, p.beta, p.movMean, p.movVar, bnMomentum, bnEps)
	}

	f := bn.upload(t, c)
	fy, fout := garbage(c, ys.n, ys.h, ys.w, ys.c), garbage(c, ys.n, ys.h, ys.w, ys.c)
	c.conv2DBatchStats(fy, f.saveMean, f.saveInvStd, in.x, in.w, in.b, tc.pad, relu, f.movMean, f.movVar, bnMomentum, bnEps)
	if relu {
		c.reluBatchNormApply(fout, fy, f.gamma, f.beta, f.saveMean, f.saveInvStd)
	} else {
		c.batchNormAddReLUApply(fout, fy, z, f.gamma, f.beta, f.saveMean, f.saveInvStd)
	}
	checkBits(t, c, []string{"conv output", "batch norm output", "saved mean", "saved invstd", "moving mean", "moving var"},
		[]backend.Tensor{fy, fout, f.saveMean, f.saveInvStd, f.movMean, f.movVar},
		[]backend.Tensor{y, out, p.saveMean, p.saveInvStd, p.movMean, p.movVar})
}

// TestConvBatchStatsBadShapes: a per-channel tensor of the wrong length is
// an error, not a panic, and nothing is written.
func TestConvBatchStatsBadShapes(t *testing.T) {
	c := New()
	tc := convCase{"k3 same", nhwc{1, 4, 4, 32}, kernel{3, 3, 32, 32}, 1}
	in := newConvInputs(t, c, tc, 5)
	bn := newBNInputs(newRand(5), 31).upload(t, c)
	y := c.Alloc(1, 4, 4, 32)
	c.conv2DBatchStats(y, bn.saveMean, bn.saveInvStd, in.x, in.w, in.b, tc.pad, true, bn.movMean, bn.movVar, bnMomentum, bnEps)
	if err := c.Sync(); err == nil {
		t.Fatal("31 statistics for 32 channels: no error")
	}
	if got := download(t, c, y); rmsOf(got) != 0 {
		t.Error("the output was written after a shape error")
	}
}

// TestConvBackwardBN compares conv2DBackwardBN (followed by
// batchNormBackwardApply for its next batch norm) with the separate ops it
// stands for: the batch-norm backward pass that hands dy over
// (BatchNormBackward or reluBatchNormBackward), Conv2DBackward, then Add,
// ReLUBackward and the next batch norm's backward pass. It covers the forms
// the graph uses — dy given or pending, no next batch norm, a ReLU mask,
// the shortcut's add into a batch norm of a ReLU, a nil dx — and must match
// to the bit, on the direct convolution (assembly and portable kernels),
// where the input gradient or the whole convolution is not direct, and for
// 'valid' and 5x5 convolutions.
func TestConvBackwardBN(t *testing.T) {
	cases := []convCase{
		{"k3 same 32-32", nhwc{3, 9, 7, 32}, kernel{3, 3, 32, 32}, 1},
		{"k3 valid 32-64, two tiles a row", nhwc{2, 6, 17, 32}, kernel{3, 3, 32, 64}, 0},
		{"k5 same 32-32", nhwc{2, 8, 6, 32}, kernel{5, 5, 32, 32}, 2},
		{"k3 valid cin1", nhwc{2, 8, 7, 1}, kernel{3, 3, 1, 32}, 0},
		{"input gradient not direct, 16 in", nhwc{2, 6, 5, 16}, kernel{3, 3, 16, 32}, 1},
		{"gemm path, 16 out", nhwc{2, 6, 5, 32}, kernel{3, 3, 32, 16}, 1},
		{"3x5 pad 1: dy padded 1 and 3", nhwc{2, 6, 8, 32}, kernel{3, 5, 32, 32}, 1},
	}
	forms := []backwardForm{
		{name: "mask", next: true, mask: true},
		{name: "add, relu batch norm", next: true, add: true, nextReLU: true},
		{name: "add and mask", next: true, add: true, mask: true},
		{name: "pending dy, mask", from: true, next: true, mask: true},
		{name: "pending dy of a relu batch norm, add", from: true, fromReLU: true, next: true, add: true, nextReLU: true},
		{name: "pending dy only", from: true},
		{name: "pending dy, no dx", from: true, fromReLU: true, noDx: true},
	}
	forEachDirectKernel(func(isa string, c *Backend) {
		for i, tc := range cases {
			for _, f := range forms {
				t.Run(fmt.Sprintf("%s/%s/%s", isa, tc.name, f.name), func(t *testing.T) {
					checkConvBackwardBN(t, c, tc, f, uint64(1800+i))
				})
			}
		}
	})
}

// backwardForm is one form of conv2DBackwardBN: from (dy pending from a
// batch norm, of a ReLU with fromReLU), next (the input gradient carried
// into a batch norm's sums, with add and mask, of a ReLU with nextReLU),
// and noDx (no input gradient).
type backwardForm struct {
	name                      string
	from, fromReLU            bool
	next, add, mask, nextReLU bool
	noDx                      bool
}

// bnBackwardInputs are a batch norm's input x and saved statistics as a
// forward pass leaves them.
func bnBackwardInputs(t *testing.T, c *Backend, r *rand.Rand, shape []int) (x backend.Tensor, p bnState) {
	x = upload(t, c, randVals(r, numElements(shape), 2), shape...)
	p = newBNInputs(r, shape[len(shape)-1]).upload(t, c)
	c.BatchNormTrain(garbage(c, shape...), p.saveMean, p.saveInvStd, x, p.gamma, p.beta, p.movMean, p.movVar, bnMomentum, bnEps)
	return x, p
}

func checkConvBackwardBN(t *testing.T, c *Backend, tc convCase, f backwardForm, seed uint64) {
	in := newConvInputs(t, c, tc, seed)
	xs, ys := tc.x, in.ys
	xShape, yShape := []int{xs.n, xs.h, xs.w, xs.c}, []int{ys.n, ys.h, ys.w, ys.c}
	r := newRand(seed + 1)
	// The batch norm after the convolution (whose backward pass hands dy
	// over) and the one before it (into whose sums dx is carried).
	fromX, fromP := bnBackwardInputs(t, c, r, yShape)
	nextX, nextP := bnBackwardInputs(t, c, r, xShape)
	var addend, mask backend.Tensor
	if f.add {
		addend = upload(t, c, randVals(r, xs.len(), 1), xShape...)
	}
	if f.mask {
		maskVals := randVals(r, xs.len(), 1)
		for j := 0; j < len(maskVals); j += 5 {
			maskVals[j] = 0 // a ReLU output is 0 on half its inputs
		}
		mask = upload(t, c, maskVals, xShape...)
	}
	fromDg, fromDb := upload(t, c, randVals(r, ys.c, 1), ys.c), upload(t, c, randVals(r, ys.c, 1), ys.c)
	from := bnGradient{G: in.dy, X: fromX, ReLUX: f.fromReLU, Gamma: fromP.gamma,
		SaveMean: fromP.saveMean, SaveInvStd: fromP.saveInvStd, DGamma: fromDg, DBeta: fromDb}

	outputs := func() (dx, dw, db, dy, nextDx, dgamma, dbeta backend.Tensor) {
		if !f.noDx {
			dx = garbage(c, xShape...)
		}
		return dx, garbage(c, tc.k.kh, tc.k.kw, tc.k.cin, tc.k.cout), garbage(c, tc.k.cout), garbage(c, yShape...),
			garbage(c, xShape...), garbage(c, xs.c), garbage(c, xs.c)
	}
	// The separate ops.
	dx, dw, db, dy, nextDx, dgamma, dbeta := outputs()
	if f.from {
		c.batchNormBackwardApply(dy, from)
	} else {
		c.Copy(dy, in.dy)
	}
	c.Conv2DBackward(dx, dw, db, dy, in.x, in.w, tc.pad)
	if f.next {
		if addend != nil {
			c.Add(dx, dx, addend)
		}
		if mask != nil {
			c.ReLUBackward(dx, dx, mask)
		}
		if f.nextReLU {
			c.reluBatchNormBackward(nextDx, dgamma, dbeta, dx, nextX, nextP.gamma, nextP.saveMean, nextP.saveInvStd)
		} else {
			c.BatchNormBackward(nextDx, dgamma, dbeta, dx, nextX, nextP.gamma, nextP.saveMean, nextP.saveInvStd)
		}
	}
	// The fused op.
	fdx, fdw, fdb, fdy, fnextDx, fdgamma, fdbeta := outputs()
	var fromArg bnGradient
	if f.from {
		fromArg = from
	} else {
		c.Copy(fdy, in.dy)
	}
	var nextArg bnSums
	if f.next {
		nextArg = bnSums{Addend: addend, Mask: mask, X: nextX, ReLUX: f.nextReLU,
			SaveMean: nextP.saveMean, SaveInvStd: nextP.saveInvStd, DGamma: fdgamma, DBeta: fdbeta}
	}
	c.conv2DBackwardBN(fdx, fdw, fdb, fdy, in.x, in.w, tc.pad, fromArg, nextArg)
	if f.next {
		c.batchNormBackwardApply(fnextDx, bnGradient{G: fdx, X: nextX, ReLUX: f.nextReLU, Gamma: nextP.gamma,
			SaveMean: nextP.saveMean, SaveInvStd: nextP.saveInvStd, DGamma: fdgamma, DBeta: fdbeta})
	}
	mustSync(t, c)
	what := []string{"dw", "db"}
	got, want := []backend.Tensor{fdw, fdb}, []backend.Tensor{dw, db}
	if !f.noDx {
		what, got, want = append(what, "dx"), append(got, fdx), append(want, dx)
	}
	if f.next {
		what = append(what, "next dx", "next dgamma", "next dbeta")
		got, want = append(got, fnextDx, fdgamma, fdbeta), append(want, nextDx, dgamma, dbeta)
	}
	checkBits(t, c, what, got, want)
}

// TestConvBackwardBNBadInputs: a wrong size, a missing tensor in either
// struct, a channel count that does not match, or sums asked for without
// dx are each one error, not a panic, and nothing is written: not dx, not
// the weight gradient, not the batch norm's dgamma.
func TestConvBackwardBNBadInputs(t *testing.T) {
	tc := convCase{"k3 same", nhwc{2, 5, 5, 32}, kernel{3, 3, 32, 32}, 1}
	xShape := []int{2, 5, 5, 32}
	type tensors struct {
		dx, dw, db, dy backend.Tensor
		from           bnGradient
		next           bnSums
	}
	setup := func(c *Backend) (convInputs, tensors) {
		in := newConvInputs(t, c, tc, 9)
		r := newRand(10)
		fromX, fromP := bnBackwardInputs(t, c, r, xShape)
		nextX, nextP := bnBackwardInputs(t, c, r, xShape)
		ts := tensors{dx: c.Alloc(xShape...), dw: c.Alloc(3, 3, 32, 32), db: c.Alloc(32), dy: c.Alloc(xShape...)}
		ts.from = bnGradient{G: in.dy, X: fromX, Gamma: fromP.gamma, SaveMean: fromP.saveMean,
			SaveInvStd: fromP.saveInvStd, DGamma: c.Alloc(32), DBeta: c.Alloc(32)}
		ts.next = bnSums{X: nextX, SaveMean: nextP.saveMean, SaveInvStd: nextP.saveInvStd,
			DGamma: c.Alloc(32), DBeta: c.Alloc(32)}
		return in, ts
	}
	cases := []struct {
		name  string
		spoil func(c *Backend, ts *tensors)
	}{
		{"db too long", func(c *Backend, ts *tensors) { ts.db = c.Alloc(33) }},
		{"dx wrong size", func(c *Backend, ts *tensors) { ts.dx = c.Alloc(2, 5, 5, 16) }},
		{"sums without dx", func(c *Backend, ts *tensors) { ts.dx = nil }},
		{"gradient without x", func(c *Backend, ts *tensors) { ts.from.X = nil }},
		{"gradient without dgamma", func(c *Backend, ts *tensors) { ts.from.DGamma = nil }},
		{"sums without saved mean", func(c *Backend, ts *tensors) { ts.next.SaveMean = nil }},
		{"gradient of 16 channels", func(c *Backend, ts *tensors) {
			ts.from.X, ts.from.Gamma = c.Alloc(2, 5, 10, 16), c.Alloc(16)
			ts.from.SaveMean, ts.from.SaveInvStd, ts.from.DGamma, ts.from.DBeta = c.Alloc(16), c.Alloc(16), c.Alloc(16), c.Alloc(16)
		}},
		{"sums of 16 channels", func(c *Backend, ts *tensors) {
			ts.next.X = c.Alloc(2, 5, 10, 16)
			ts.next.SaveMean, ts.next.SaveInvStd, ts.next.DGamma, ts.next.DBeta = c.Alloc(16), c.Alloc(16), c.Alloc(16), c.Alloc(16)
		}},
	}
	for _, bad := range cases {
		t.Run(bad.name, func(t *testing.T) {
			c := New()
			in, ts := setup(c)
			mustSync(t, c)
			bad.spoil(c, &ts)
			c.conv2DBackwardBN(ts.dx, ts.dw, ts.db, ts.dy, in.x, in.w, tc.pad, ts.from, ts.next)
			if err := c.Sync(); err == nil {
				t.Fatal("no error")
			}
			written := map[string]backend.Tensor{"dw": ts.dw, "next dgamma": ts.next.DGamma}
			if ts.dx != nil {
				written["dx"] = ts.dx
			}
			for name, out := range written {
				if out != nil && rmsOf(download(t, c, out)) != 0 {
					t.Errorf("%s was written after the error", name)
				}
			}
		})
	}
}

// TestConvBatchNormInfer compares conv2DReLUBatchNormInfer and
// conv2DBatchNormAddReLUInfer (with and without z) with Conv2D followed by
// reluBatchNormInfer or batchNormAddReLUInfer, to the bit, on the direct
// convolution (assembly and portable kernels) and on the GEMM path.
func TestConvBatchNormInfer(t *testing.T) {
	cases := forwardConvCases
	forms := []string{"relu, batch norm", "batch norm, relu", "batch norm, add, relu"}
	forEachDirectKernel(func(isa string, c *Backend) {
		for i, tc := range cases {
			for _, form := range forms {
				t.Run(fmt.Sprintf("%s/%s/%s", isa, tc.name, form), func(t *testing.T) {
					in := newConvInputs(t, c, tc, uint64(1900+i))
					ys := in.ys
					shape := []int{ys.n, ys.h, ys.w, ys.c}
					p := newBNInputs(newRand(uint64(1950+i)), ys.c).upload(t, c)
					var z backend.Tensor
					if form == "batch norm, add, relu" {
						z = upload(t, c, in.gv, shape...)
					}
					y, fy := garbage(c, shape...), garbage(c, shape...)
					c.Conv2D(y, in.x, in.w, in.b, tc.pad)
					if form == "relu, batch norm" {
						c.reluBatchNormInfer(y, y, p.gamma, p.beta, p.movMean, p.movVar, bnEps)
						c.conv2DReLUBatchNormInfer(fy, in.x, in.w, in.b, tc.pad, p.gamma, p.beta, p.movMean, p.movVar, bnEps)
					} else {
						c.batchNormAddReLUInfer(y, y, z, p.gamma, p.beta, p.movMean, p.movVar, bnEps)
						c.conv2DBatchNormAddReLUInfer(fy, in.x, in.w, in.b, tc.pad, z, p.gamma, p.beta, p.movMean, p.movVar, bnEps)
					}
					mustSync(t, c)
					checkClose(t, "output", download(t, c, fy), download(t, c, y), 0, 0)
				})
			}
		}
	})
}

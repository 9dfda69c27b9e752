package cpu

import (
	"fmt"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// TestConvBatchStats compares Conv2DBatchStats followed by
// ReLUBatchNormApply or BatchNormAddReLUApply with Conv2D followed by
// ReLUBatchNormTrain or BatchNormAddReLUTrain: the statistics are added in
// the same order (image by image, pixel by pixel), so every output, saved
// statistic and moving statistic must match to the bit, on the direct
// convolution (assembly and portable kernels) and on the GEMM path
// (channels not a multiple of 32).
func TestConvBatchStats(t *testing.T) {
	cases := []convCase{
		{"k3 same 32-32", nhwc{3, 9, 7, 32}, kernel{3, 3, 32, 32}, 1},
		{"k3 valid 32-64, two tiles a row", nhwc{2, 6, 17, 32}, kernel{3, 3, 32, 64}, 0},
		{"k3 valid cin1", nhwc{2, 8, 7, 1}, kernel{3, 3, 1, 32}, 0},
		{"gemm path, 16 out", nhwc{2, 6, 5, 3}, kernel{3, 3, 3, 16}, 1},
	}
	forEachDirectKernel(func(asm bool, c *Backend) {
		for i, tc := range cases {
			for _, relu := range []bool{true, false} {
				t.Run(fmt.Sprintf("asm=%v/%s/relu=%v", asm, tc.name, relu), func(t *testing.T) {
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
		c.ReLUBatchNormTrain(out, p.saveMean, p.saveInvStd, y, p.gamma, p.beta, p.movMean, p.movVar, bnMomentum, bnEps)
	} else {
		c.BatchNormAddReLUTrain(out, p.saveMean, p.saveInvStd, y, z, p.gamma, p.beta, p.movMean, p.movVar, bnMomentum, bnEps)
	}

	f := bn.upload(t, c)
	fy, fout := garbage(c, ys.n, ys.h, ys.w, ys.c), garbage(c, ys.n, ys.h, ys.w, ys.c)
	c.Conv2DBatchStats(fy, f.saveMean, f.saveInvStd, in.x, in.w, in.b, tc.pad, relu, f.movMean, f.movVar, bnMomentum, bnEps)
	if relu {
		c.ReLUBatchNormApply(fout, fy, f.gamma, f.beta, f.saveMean, f.saveInvStd)
	} else {
		c.BatchNormAddReLUApply(fout, fy, z, f.gamma, f.beta, f.saveMean, f.saveInvStd)
	}
	mustSync(t, c)
	what := []string{"conv output", "batch norm output", "saved mean", "saved invstd", "moving mean", "moving var"}
	got := []backend.Tensor{fy, fout, f.saveMean, f.saveInvStd, f.movMean, f.movVar}
	want := []backend.Tensor{y, out, p.saveMean, p.saveInvStd, p.movMean, p.movVar}
	for i := range what {
		checkClose(t, what[i], download(t, c, got[i]), download(t, c, want[i]), 0, 0)
	}
}

// TestConvBatchStatsBadShapes: a per-channel tensor of the wrong length is
// an error, not a panic, and nothing is written.
func TestConvBatchStatsBadShapes(t *testing.T) {
	c := New()
	tc := convCase{"k3 same", nhwc{1, 4, 4, 32}, kernel{3, 3, 32, 32}, 1}
	in := newConvInputs(t, c, tc, 5)
	bn := newBNInputs(newRand(5), 31).upload(t, c)
	y := c.Alloc(1, 4, 4, 32)
	c.Conv2DBatchStats(y, bn.saveMean, bn.saveInvStd, in.x, in.w, in.b, tc.pad, true, bn.movMean, bn.movVar, bnMomentum, bnEps)
	if err := c.Sync(); err == nil {
		t.Fatal("31 statistics for 32 channels: no error")
	}
	if got := download(t, c, y); rmsOf(got) != 0 {
		t.Error("the output was written after a shape error")
	}
}

// TestConvBackwardBN compares Conv2DBackwardBN followed by
// BatchNormBackwardApply with the separate ops they stand for
// (Conv2DBackward, Add, ReLUBackward, BatchNormBackward or
// ReLUBatchNormBackward), in the three forms the graph uses: a ReLU mask
// (the block's output), a ReLU mask again (reluA), and the shortcut's add
// into a batch norm of a ReLU (bn1). Everything must match to the bit, on
// the direct convolution (assembly and portable kernels) and on the paths
// where the input gradient is not direct (input channels not a multiple
// of 32, output channels not either).
func TestConvBackwardBN(t *testing.T) {
	cases := []convCase{
		{"k3 same 32-32", nhwc{3, 9, 7, 32}, kernel{3, 3, 32, 32}, 1},
		{"k3 valid 32-64, two tiles a row", nhwc{2, 6, 17, 32}, kernel{3, 3, 32, 64}, 0},
		{"k5 same 32-32", nhwc{2, 8, 6, 32}, kernel{5, 5, 32, 32}, 2},
		{"input gradient not direct, 16 in", nhwc{2, 6, 5, 16}, kernel{3, 3, 16, 32}, 1},
		{"gemm path, 16 out", nhwc{2, 6, 5, 32}, kernel{3, 3, 32, 16}, 1},
	}
	forms := []struct {
		name              string
		withAdd, withMask bool
		reluX             bool
	}{
		{"mask", false, true, false},
		{"add, relu batch norm", true, false, true},
		{"add and mask", true, true, false},
	}
	forEachDirectKernel(func(asm bool, c *Backend) {
		for i, tc := range cases {
			for _, f := range forms {
				t.Run(fmt.Sprintf("asm=%v/%s/%s", asm, tc.name, f.name), func(t *testing.T) {
					checkConvBackwardBN(t, c, tc, f.withAdd, f.withMask, f.reluX, uint64(1800+i))
				})
			}
		}
	})
}

func checkConvBackwardBN(t *testing.T, c *Backend, tc convCase, withAdd, withMask, reluX bool, seed uint64) {
	in := newConvInputs(t, c, tc, seed)
	xs := tc.x
	shape := []int{xs.n, xs.h, xs.w, xs.c}
	r := newRand(seed + 1)
	n := xs.len()
	bnX := upload(t, c, randVals(r, n, 2), shape...)
	var addend, mask backend.Tensor
	if withAdd {
		addend = upload(t, c, randVals(r, n, 1), shape...)
	}
	if withMask {
		maskVals := randVals(r, n, 1)
		for j := 0; j < n; j += 5 {
			maskVals[j] = 0 // a ReLU output is 0 on half its inputs
		}
		mask = upload(t, c, maskVals, shape...)
	}
	bn := newBNInputs(r, xs.c)
	p := bn.upload(t, c)
	// Saved statistics as a forward pass leaves them.
	c.BatchNormTrain(garbage(c, shape...), p.saveMean, p.saveInvStd, bnX, p.gamma, p.beta, p.movMean, p.movVar, bnMomentum, bnEps)

	grads := func() (g, dw, db, dx, dgamma, dbeta backend.Tensor) {
		return garbage(c, shape...), garbage(c, tc.k.kh, tc.k.kw, tc.k.cin, tc.k.cout), garbage(c, tc.k.cout),
			garbage(c, shape...), garbage(c, xs.c), garbage(c, xs.c)
	}
	g, dw, db, dx, dgamma, dbeta := grads()
	c.Conv2DBackward(g, dw, db, in.dy, in.x, in.w, tc.pad)
	if addend != nil {
		c.Add(g, g, addend)
	}
	if mask != nil {
		c.ReLUBackward(g, g, mask)
	}
	if reluX {
		c.ReLUBatchNormBackward(dx, dgamma, dbeta, g, bnX, p.gamma, p.saveMean, p.saveInvStd)
	} else {
		c.BatchNormBackward(dx, dgamma, dbeta, g, bnX, p.gamma, p.saveMean, p.saveInvStd)
	}

	fg, fdw, fdb, fdx, fdgamma, fdbeta := grads()
	c.Conv2DBackwardBN(fg, fdw, fdb, in.dy, in.x, in.w, tc.pad, addend, mask, bnX, reluX, p.saveMean, p.saveInvStd, fdgamma, fdbeta)
	c.BatchNormBackwardApply(fdx, fg, bnX, reluX, p.gamma, p.saveMean, p.saveInvStd, fdgamma, fdbeta)
	mustSync(t, c)
	what := []string{"g", "dw", "db", "dx", "dgamma", "dbeta"}
	got := []backend.Tensor{fg, fdw, fdb, fdx, fdgamma, fdbeta}
	want := []backend.Tensor{g, dw, db, dx, dgamma, dbeta}
	for i := range what {
		checkClose(t, what[i], download(t, c, got[i]), download(t, c, want[i]), 0, 0)
	}
}

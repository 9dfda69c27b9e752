package cpu

import (
	"math"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// residualParams are the float64 inputs of one residual block,
// z = relu(bn2(conv2(relu(bn1(conv1(x))))) + x).
type residualParams struct {
	x              []float64 // (N, H, W, C)
	w1, b1, w2, b2 []float64 // (3, 3, C, C), (C)
	g1, be1        []float64 // bn1 gamma, beta (C)
	g2, be2        []float64 // bn2 gamma, beta (C)
}

// residualRef is the block in float64; it also returns the inputs of both
// ReLUs, whose distance from 0 bounds where finite differences are valid.
func residualRef(p *residualParams, xs nhwc) (z, pre1, pre2 []float64) {
	k := kernel{3, 3, xs.c, xs.c}
	a1 := convRef(p.x, xs, p.w1, k, p.b1, 1)
	pre1, _, _ = bnTrainRef(a1, xs.c, p.g1, p.be1, bnEps)
	a2 := convRef(reluRef(pre1), xs, p.w2, k, p.b2, 1)
	n2, _, _ := bnTrainRef(a2, xs.c, p.g2, p.be2, bnEps)
	pre2 = addRef(n2, p.x)
	return reluRef(pre2), pre1, pre2
}

// TestResidualBlock composes the block from the backend's ops, forward and
// backward as the model does, and checks the output and the gradients of
// L = Σ G·z with respect to x (conv path plus shortcut), both kernels, both
// conv biases and both batch norms' gamma and beta against central
// differences of residualRef.
func TestResidualBlock(t *testing.T) {
	xs := nhwc{2, 6, 5, 4}
	shape := []int{xs.n, xs.h, xs.w, xs.c}
	wshape := []int{3, 3, xs.c, xs.c}
	r := newRand(1400)
	p := &residualParams{
		x:  randVals(r, xs.len(), 1),
		w1: randVals(r, 9*xs.c*xs.c, 0.4), b1: randVals(r, xs.c, 0.5),
		w2: randVals(r, 9*xs.c*xs.c, 0.4), b2: randVals(r, xs.c, 0.5),
		g1: randVals(r, xs.c, 1), be1: randVals(r, xs.c, 0.5),
		g2: randVals(r, xs.c, 1), be2: randVals(r, xs.c, 0.5),
	}
	for j := range p.g1 {
		p.g1[j] = float64(float32(p.g1[j] + 1.5))
		p.g2[j] = float64(float32(p.g2[j] + 1.5))
	}
	gv := randVals(r, xs.len(), 1)
	wantZ, pre1, pre2 := residualRef(p, xs)
	const margin = 1e-4 // ≫ fdStep times any ∂pre/∂param here
	for name, pre := range map[string][]float64{"relu 1": pre1, "relu 2": pre2} {
		closest := math.Inf(1)
		for _, v := range pre {
			closest = math.Min(closest, math.Abs(v))
		}
		if closest < margin {
			t.Fatalf("%s has an input %.3g from its kink, where finite differences are invalid: pick another seed", name, closest)
		}
	}

	c := New()
	x := upload(t, c, p.x, shape...)
	w1, b1 := upload(t, c, p.w1, wshape...), upload(t, c, p.b1, xs.c)
	w2, b2 := upload(t, c, p.w2, wshape...), upload(t, c, p.b2, xs.c)
	g1, be1 := upload(t, c, p.g1, xs.c), upload(t, c, p.be1, xs.c)
	g2, be2 := upload(t, c, p.g2, xs.c), upload(t, c, p.be2, xs.c)
	mm1, mv1, mm2, mv2 := c.Alloc(xs.c), c.Alloc(xs.c), c.Alloc(xs.c), c.Alloc(xs.c)
	c.Fill(mv1, 1)
	c.Fill(mv2, 1)
	act := func() backend.Tensor { return garbage(c, shape...) }
	vec := func() backend.Tensor { return garbage(c, xs.c) }
	a1, n1, r1, a2, n2, s, z := act(), act(), act(), act(), act(), act(), act()
	sm1, si1, sm2, si2 := vec(), vec(), vec(), vec()

	c.Conv2D(a1, x, w1, b1, 1)
	c.BatchNormTrain(n1, sm1, si1, a1, g1, be1, mm1, mv1, bnMomentum, bnEps)
	c.ReLU(r1, n1)
	c.Conv2D(a2, r1, w2, b2, 1)
	c.BatchNormTrain(n2, sm2, si2, a2, g2, be2, mm2, mv2, bnMomentum, bnEps)
	c.Add(s, n2, x)
	c.ReLU(z, s)
	mustSync(t, c)
	checkClose(t, "z", download(t, c, z), wantZ, fwdAtol, fwdRtol)

	dz := upload(t, c, gv, shape...)
	ds, da2, dr1, dn1, da1, dxConv, dx := act(), act(), act(), act(), act(), act(), act()
	dw1, dw2 := garbage(c, wshape...), garbage(c, wshape...)
	db1, db2, dg1, dbe1, dg2, dbe2 := vec(), vec(), vec(), vec(), vec(), vec()
	c.ReLUBackward(ds, dz, z)
	c.BatchNormBackward(da2, dg2, dbe2, ds, a2, g2, sm2, si2)
	c.Conv2DBackward(dr1, dw2, db2, da2, r1, w2, 1)
	c.ReLUBackward(dn1, dr1, r1)
	c.BatchNormBackward(da1, dg1, dbe1, dn1, a1, g1, sm1, si1)
	c.Conv2DBackward(dxConv, dw1, db1, da1, x, w1, 1)
	c.Add(dx, dxConv, ds) // the shortcut carries ds straight to x
	mustSync(t, c)

	loss := func() float64 {
		z, _, _ := residualRef(p, xs)
		return dot(gv, z)
	}
	checkGrad(t, "dx", download(t, c, dx), numGrad(p.x, loss), gradAtol, gradRtol)
	checkGrad(t, "dw1", download(t, c, dw1), numGrad(p.w1, loss), gradAtol, gradRtol)
	checkGrad(t, "dw2", download(t, c, dw2), numGrad(p.w2, loss), gradAtol, gradRtol)
	checkGrad(t, "dgamma1", download(t, c, dg1), numGrad(p.g1, loss), gradAtol, gradRtol)
	checkGrad(t, "dbeta1", download(t, c, dbe1), numGrad(p.be1, loss), gradAtol, gradRtol)
	checkGrad(t, "dgamma2", download(t, c, dg2), numGrad(p.g2, loss), gradAtol, gradRtol)
	checkGrad(t, "dbeta2", download(t, c, dbe2), numGrad(p.be2, loss), gradAtol, gradRtol)
	// A bias before batch norm has no effect: its gradient is 0 up to the
	// float32 rounding of summing O(1) terms over the batch, hence the atol.
	checkGrad(t, "db1", download(t, c, db1), numGrad(p.b1, loss), 1e-5, gradRtol)
	checkGrad(t, "db2", download(t, c, db2), numGrad(p.b2, loss), 1e-5, gradRtol)

	// Without the shortcut term dx would be the conv path alone: the dx check
	// above only sees a missing shortcut if that term is well above its tolerance.
	if sc, all := rmsOf(download(t, c, ds)), rmsOf(download(t, c, dx)); sc < 10*gradRtol*all {
		t.Errorf("shortcut gradient RMS %.3g against dx RMS %.3g: too small for the dx check to see", sc, all)
	}
}

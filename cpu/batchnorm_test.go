package cpu

import (
	"math"
	"testing"
)

// Keras BatchNormalization defaults.
const (
	bnMomentum = 0.99
	bnEps      = 1e-3
)

// TestBatchNormTrain checks the training-mode forward pass, the saved
// statistics, the moving-statistics update and the gradients of
// L = Σ G·y with respect to x, gamma and beta against central differences.
func TestBatchNormTrain(t *testing.T) {
	cases := []struct {
		name  string
		shape []int // the last axis is the channel
		mean  float64
		atol  float64 // of y
	}{
		{"nhwc", []int{2, 3, 3, 4}, 0, fwdAtol},
		{"rank 3", []int{3, 5, 2}, 0, fwdAtol},
		{"dense (M 4)", []int{4, 6}, 0, fwdAtol},
		{"one channel", []int{2, 4, 3, 1}, 0, fwdAtol},
		// 627 rows: the per-channel sums split unevenly across workers.
		{"627 rows", []int{3, 11, 19, 4}, 0, fwdAtol},
		// A large common offset, where E[x²]-E[x]² in float32 would lose the
		// variance to cancellation. x and the saved mean are float32 with an
		// ulp of 7.6e-6 at 100, so x-mean itself carries that much error.
		{"offset 100", []int{2, 4, 4, 3}, 100, 5e-5},
		// 32 channels take the vector loops; 70 rows span two float32 blocks.
		{"32 channels", []int{1, 5, 14, 32}, 0, fwdAtol},
		{"32 channels, offset 100", []int{1, 5, 14, 32}, 100, 5e-5},
	}
	c := New()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRand(uint64(400 + i))
			n := numElements(tc.shape)
			ch := tc.shape[len(tc.shape)-1]
			xv := randVals(r, n, 1)
			for j := range xv {
				xv[j] = float64(float32(xv[j] + tc.mean))
			}
			gamma, beta := randVals(r, ch, 1), randVals(r, ch, 0.5)
			for j := range gamma {
				gamma[j] = float64(float32(gamma[j] + 1.5)) // in [0.5, 2.5)
			}
			mm, mv := randVals(r, ch, 1), randVals(r, ch, 1)
			for j := range mv {
				mv[j] = float64(float32(mv[j] + 1.5))
			}
			gv := randVals(r, n, 1)

			x, dy := upload(t, c, xv, tc.shape...), upload(t, c, gv, tc.shape...)
			g, b := upload(t, c, gamma, ch), upload(t, c, beta, ch)
			movMean, movVar := upload(t, c, mm, ch), upload(t, c, mv, ch)
			y, saveMean, saveInvStd := garbage(c, tc.shape...), garbage(c, ch), garbage(c, ch)
			c.BatchNormTrain(y, saveMean, saveInvStd, x, g, b, movMean, movVar, bnMomentum, bnEps)
			mustSync(t, c)

			wantY, mean, variance := bnTrainRef(xv, ch, gamma, beta, bnEps)
			checkClose(t, "y", download(t, c, y), wantY, tc.atol, fwdRtol)
			checkClose(t, "saved mean", download(t, c, saveMean), mean, fwdAtol, fwdRtol)
			invStd, wantMM, wantMV := make([]float64, ch), make([]float64, ch), make([]float64, ch)
			for j := range invStd {
				invStd[j] = 1 / math.Sqrt(variance[j]+bnEps)
				wantMM[j] = mm[j]*bnMomentum + mean[j]*(1-bnMomentum)
				wantMV[j] = mv[j]*bnMomentum + variance[j]*(1-bnMomentum)
			}
			checkClose(t, "saved invstd", download(t, c, saveInvStd), invStd, fwdAtol, fwdRtol)
			checkClose(t, "moving mean", download(t, c, movMean), wantMM, fwdAtol, fwdRtol)
			checkClose(t, "moving var", download(t, c, movVar), wantMV, fwdAtol, fwdRtol)

			dx, dgamma, dbeta := garbage(c, tc.shape...), garbage(c, ch), garbage(c, ch)
			c.BatchNormBackward(dx, dgamma, dbeta, dy, x, g, saveMean, saveInvStd)
			mustSync(t, c)
			loss := func() float64 {
				y, _, _ := bnTrainRef(xv, ch, gamma, beta, bnEps)
				return dot(gv, y)
			}
			checkGrad(t, "dx", download(t, c, dx), numGrad(xv, loss), gradAtol, gradRtol)
			checkGrad(t, "dgamma", download(t, c, dgamma), numGrad(gamma, loss), gradAtol, gradRtol)
			checkGrad(t, "dbeta", download(t, c, dbeta), numGrad(beta, loss), gradAtol, gradRtol)
		})
	}
}

// TestBatchNormInfer checks inference mode, which uses the moving statistics
// and leaves them unchanged.
func TestBatchNormInfer(t *testing.T) {
	cases := []struct {
		name  string
		shape []int
	}{
		{"nhwc", []int{2, 3, 5, 4}},
		{"dense", []int{5, 7}},
		{"627 rows", []int{3, 11, 19, 3}},
		{"32 channels", []int{1, 5, 14, 32}},
	}
	c := New()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRand(uint64(500 + i))
			n, ch := numElements(tc.shape), tc.shape[len(tc.shape)-1]
			xv, gamma, beta, mm := randVals(r, n, 2), randVals(r, ch, 1), randVals(r, ch, 1), randVals(r, ch, 1)
			mv := randVals(r, ch, 1)
			for j := range mv {
				mv[j] = float64(float32(mv[j] + 1.01)) // in [0.01, 2.01)
			}
			x, g, b := upload(t, c, xv, tc.shape...), upload(t, c, gamma, ch), upload(t, c, beta, ch)
			movMean, movVar := upload(t, c, mm, ch), upload(t, c, mv, ch)
			y := garbage(c, tc.shape...)
			c.BatchNormInfer(y, x, g, b, movMean, movVar, bnEps)
			mustSync(t, c)
			checkClose(t, "y", download(t, c, y), bnInferRef(xv, ch, gamma, beta, mm, mv, bnEps), fwdAtol, fwdRtol)
			checkClose(t, "moving mean unchanged", download(t, c, movMean), mm, 0, 0)
			checkClose(t, "moving var unchanged", download(t, c, movVar), mv, 0, 0)

			// BatchNormInfer may run in place (y == x).
			c.BatchNormInfer(x, x, g, b, movMean, movVar, bnEps)
			mustSync(t, c)
			checkClose(t, "y in place of x", download(t, c, x), download(t, c, y), 0, 0)
		})
	}
}

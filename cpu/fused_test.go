package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// fusedTol is how far a fused op may be from the plain ops it replaces:
// both compute the same float32 expressions in the same order, so they
// agree to the bit where the same loops run; the tolerance leaves room
// only for a compiler that contracts a multiply-add in one loop and not
// the other.
const fusedTol = 1e-6

// fusedShapes cover the vector loops (channels a multiple of 16), the
// portable ones (odd channel counts) and odd row counts that split unevenly
// across workers and 64-row blocks.
var fusedShapes = []struct {
	name  string
	shape []int
}{
	{"odd channels", []int{3, 5, 7, 5}},
	{"odd rows, 32 channels", []int{1, 7, 9, 32}},
	{"48 channels", []int{2, 11, 13, 48}},
	{"conv-sized, 64 channels", []int{4, 24, 24, 64}},
	{"dense", []int{64, 128}},
	{"dense, odd", []int{5, 3}},
}

// The rest of the fused batch-norm passes as standalone ops, which no unit
// calls but the tests compare the units' passes with: the training and
// inference batch norm followed by the shortcut's add and a ReLU, and a
// batch norm's input gradient on its own.

// batchNormAddReLUTrain writes y = max(BatchNormTrain(x) + z, 0), z nil for
// none, in the pass that normalizes.
func (c *Backend) batchNormAddReLUTrain(y, saveMean, saveInvStd, x, z, gamma, beta, movingMean, movingVar backend.Tensor, momentum, eps float32) {
	c.batchNormTrain("batchnorm add relu train", y, saveMean, saveInvStd, x, z, gamma, beta, movingMean, movingVar, momentum, eps, rowSteps{reluOut: true})
}

// batchNormAddReLUInfer writes y = max(BatchNormInfer(x) + z, 0), z nil for
// none; y may be x or z.
func (c *Backend) batchNormAddReLUInfer(y, x, z, gamma, beta, movingMean, movingVar backend.Tensor, eps float32) {
	c.batchNormInfer("batchnorm add relu infer", y, x, z, gamma, beta, movingMean, movingVar, eps, rowSteps{reluOut: true})
}

// batchNormBackwardApply writes into dx the input gradient that from
// describes.
func (c *Backend) batchNormBackwardApply(dx backend.Tensor, from bnGradient) {
	const op = "batchnorm backward apply"
	if !c.present(op, "dx and batch-norm gradient", dx, from.G, from.X, from.Gamma, from.SaveMean, from.SaveInvStd, from.DGamma, from.DBeta) ||
		!c.gradientFits(op, from, dx, from.Gamma.Len()) {
		return
	}
	c.backwardAffine(dx, from.G, from.X, from.Gamma, from.SaveMean, from.SaveInvStd, from.DGamma, from.DBeta, gradientSteps(from.ReLUX))
}

// bnInputs are random batch-norm parameters and moving statistics of ch
// channels; x, z and dy are drawn by the caller.
type bnInputs struct {
	gamma, beta, movMean, movVar []float64
}

func newBNInputs(r *rand.Rand, ch int) bnInputs {
	in := bnInputs{make([]float64, ch), make([]float64, ch), make([]float64, ch), make([]float64, ch)}
	for j := range ch {
		in.gamma[j] = float64(float32(0.5 + 2*r.Float64()))
		in.beta[j] = float64(float32(r.Float64() - 0.5))
		in.movMean[j] = float64(float32(r.Float64() - 0.5))
		in.movVar[j] = float64(float32(0.5 + r.Float64()))
	}
	return in
}

// bnState is one run's parameters on the backend; each run starts from
// the same moving statistics.
type bnState struct {
	gamma, beta, movMean, movVar, saveMean, saveInvStd backend.Tensor
}

func (in bnInputs) upload(t testing.TB, c *Backend) bnState {
	ch := len(in.gamma)
	return bnState{upload(t, c, in.gamma, ch), upload(t, c, in.beta, ch), upload(t, c, in.movMean, ch),
		upload(t, c, in.movVar, ch), garbage(c, ch), garbage(c, ch)}
}

// checkSame compares the tensors of a fused run with those of the plain
// run, within fusedTol.
func checkSame(t *testing.T, c *Backend, what []string, got, want []backend.Tensor) {
	t.Helper()
	checkTensors(t, c, what, got, want, fusedTol)
}

// checkBits is checkSame to the bit.
func checkBits(t *testing.T, c *Backend, what []string, got, want []backend.Tensor) {
	t.Helper()
	checkTensors(t, c, what, got, want, 0)
}

func checkTensors(t *testing.T, c *Backend, what []string, got, want []backend.Tensor, rtol float64) {
	t.Helper()
	mustSync(t, c)
	for i := range what {
		checkClose(t, what[i], download(t, c, got[i]), download(t, c, want[i]), 0, rtol)
	}
}

// TestReLUBatchNorm compares reluBatchNormTrain, Infer and Backward with
// ReLU followed by the plain batch norm ops, on pre-activations about half
// of which are negative, some exactly zero.
func TestReLUBatchNorm(t *testing.T) {
	c := New()
	for i, tc := range fusedShapes {
		t.Run(tc.name, func(t *testing.T) {
			r := newRand(uint64(900 + i))
			n, ch := numElements(tc.shape), tc.shape[len(tc.shape)-1]
			xv, dyv := randVals(r, n, 2), randVals(r, n, 1)
			for j := 0; j < n; j += 7 {
				xv[j] = 0
			}
			in := newBNInputs(r, ch)
			x, dy := upload(t, c, xv, tc.shape...), upload(t, c, dyv, tc.shape...)

			// The plain ops, keeping relu(x).
			p := in.upload(t, c)
			relu, y := garbage(c, tc.shape...), garbage(c, tc.shape...)
			c.ReLU(relu, x)
			c.BatchNormTrain(y, p.saveMean, p.saveInvStd, relu, p.gamma, p.beta, p.movMean, p.movVar, bnMomentum, bnEps)
			dx, dg, db := garbage(c, tc.shape...), garbage(c, ch), garbage(c, ch)
			c.BatchNormBackward(dx, dg, db, dy, relu, p.gamma, p.saveMean, p.saveInvStd)
			c.ReLUBackward(dx, dx, relu)
			yInfer := garbage(c, tc.shape...)
			c.BatchNormInfer(yInfer, relu, p.gamma, p.beta, p.movMean, p.movVar, bnEps)

			f := in.upload(t, c)
			fy := garbage(c, tc.shape...)
			c.reluBatchNormTrain(fy, f.saveMean, f.saveInvStd, x, f.gamma, f.beta, f.movMean, f.movVar, bnMomentum, bnEps)
			fdx, fdg, fdb := garbage(c, tc.shape...), garbage(c, ch), garbage(c, ch)
			c.reluBatchNormBackward(fdx, fdg, fdb, dy, x, f.gamma, f.saveMean, f.saveInvStd)
			fyInfer := upload(t, c, xv, tc.shape...)
			c.reluBatchNormInfer(fyInfer, fyInfer, f.gamma, f.beta, f.movMean, f.movVar, bnEps) // in place
			checkSame(t, c,
				[]string{"y", "saved mean", "saved invstd", "moving mean", "moving var", "dx", "dgamma", "dbeta", "inference y"},
				[]backend.Tensor{fy, f.saveMean, f.saveInvStd, f.movMean, f.movVar, fdx, fdg, fdb, fyInfer},
				[]backend.Tensor{y, p.saveMean, p.saveInvStd, p.movMean, p.movVar, dx, dg, db, yInfer})
		})
	}
}

// TestBatchNormAddReLU compares batchNormAddReLUTrain and Infer, with and
// without the added tensor, with the plain batch norm, Add and ReLU.
func TestBatchNormAddReLU(t *testing.T) {
	c := New()
	for i, tc := range fusedShapes {
		for _, withZ := range []bool{true, false} {
			name := tc.name + ", no z"
			if withZ {
				name = tc.name + ", z"
			}
			t.Run(name, func(t *testing.T) {
				r := newRand(uint64(950 + i))
				n, ch := numElements(tc.shape), tc.shape[len(tc.shape)-1]
				xv, zv := randVals(r, n, 2), randVals(r, n, 1)
				in := newBNInputs(r, ch)
				x := upload(t, c, xv, tc.shape...)
				var z backend.Tensor
				if withZ {
					z = upload(t, c, zv, tc.shape...)
				}
				// plain is BN, then + z unless z is nil, then ReLU.
				plain := func(y backend.Tensor, bn func(y backend.Tensor)) {
					bn(y)
					if z != nil {
						c.Add(y, y, z)
					}
					c.ReLU(y, y)
				}
				p := in.upload(t, c)
				y, yInfer := garbage(c, tc.shape...), garbage(c, tc.shape...)
				plain(y, func(y backend.Tensor) {
					c.BatchNormTrain(y, p.saveMean, p.saveInvStd, x, p.gamma, p.beta, p.movMean, p.movVar, bnMomentum, bnEps)
				})
				plain(yInfer, func(y backend.Tensor) { c.BatchNormInfer(y, x, p.gamma, p.beta, p.movMean, p.movVar, bnEps) })

				f := in.upload(t, c)
				fy := garbage(c, tc.shape...)
				c.batchNormAddReLUTrain(fy, f.saveMean, f.saveInvStd, x, z, f.gamma, f.beta, f.movMean, f.movVar, bnMomentum, bnEps)
				fyInfer := upload(t, c, xv, tc.shape...)
				c.batchNormAddReLUInfer(fyInfer, fyInfer, z, f.gamma, f.beta, f.movMean, f.movVar, bnEps) // in place
				checkSame(t, c,
					[]string{"y", "saved mean", "saved invstd", "moving mean", "moving var", "inference y"},
					[]backend.Tensor{fy, f.saveMean, f.saveInvStd, f.movMean, f.movVar, fyInfer},
					[]backend.Tensor{y, p.saveMean, p.saveInvStd, p.movMean, p.movVar, yInfer})
			})
		}
	}
}

// BenchmarkFusedBatchNorm times each fused op against the separate ops it
// replaces, on the model's 26x26x32 activations (batch 64).
func BenchmarkFusedBatchNorm(b *testing.B) {
	c := New()
	shape := []int{64, 26, 26, 32}
	r := newRand(1600)
	n := numElements(shape)
	x, dy := upload(b, c, randVals(r, n, 2), shape...), upload(b, c, randVals(r, n, 1), shape...)
	relu, y, dx := c.Alloc(shape...), c.Alloc(shape...), c.Alloc(shape...)
	p := newBNInputs(r, shape[3]).upload(b, c)
	dg, db := c.Alloc(shape[3]), c.Alloc(shape[3])
	c.ReLU(relu, x)
	for _, op := range []struct {
		name            string
		separate, fused func()
	}{
		{"relu then train", func() {
			c.ReLU(relu, x)
			c.BatchNormTrain(y, p.saveMean, p.saveInvStd, relu, p.gamma, p.beta, p.movMean, p.movVar, bnMomentum, bnEps)
		}, func() {
			c.reluBatchNormTrain(y, p.saveMean, p.saveInvStd, x, p.gamma, p.beta, p.movMean, p.movVar, bnMomentum, bnEps)
		}},
		{"backward then relu backward", func() {
			c.BatchNormBackward(dx, dg, db, dy, relu, p.gamma, p.saveMean, p.saveInvStd)
			c.ReLUBackward(dx, dx, relu)
		}, func() {
			c.reluBatchNormBackward(dx, dg, db, dy, x, p.gamma, p.saveMean, p.saveInvStd)
		}},
		{"train, add, relu", func() {
			c.BatchNormTrain(y, p.saveMean, p.saveInvStd, x, p.gamma, p.beta, p.movMean, p.movVar, bnMomentum, bnEps)
			c.Add(y, y, dy)
			c.ReLU(y, y)
		}, func() {
			c.batchNormAddReLUTrain(y, p.saveMean, p.saveInvStd, x, dy, p.gamma, p.beta, p.movMean, p.movVar, bnMomentum, bnEps)
		}},
	} {
		for _, v := range []struct {
			name string
			run  func()
		}{{"separate", op.separate}, {"fused", op.fused}} {
			b.Run(op.name+"/"+v.name, func(b *testing.B) {
				v.run() // grow the buffers outside the timing
				b.ReportAllocs()
				for b.Loop() {
					v.run()
				}
				mustSync(b, c)
			})
		}
	}
}

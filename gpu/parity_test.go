//go:build cgo

package gpu

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/cpu"
	"github.com/mnistgpu/mnistgpu/gpu/internal/cuda"
	"github.com/mnistgpu/mnistgpu/internal/backend"
	"github.com/mnistgpu/mnistgpu/internal/metrics"
	"github.com/mnistgpu/mnistgpu/internal/mnist"
	"github.com/mnistgpu/mnistgpu/internal/model"
	"github.com/mnistgpu/mnistgpu/internal/train"
)

// Parity tests run every op on the CPU backend (the reference) and on the
// GPU with the same fresh random inputs and compare the outputs. They skip
// where no GPU is usable. Convolutions may use TF32 tensor cores (cuDNN's
// default math on Ampere and later), hence the 1e-3 tolerance relative to
// the output's scale; each check logs the largest error.
const parityTol = 1e-3

// pair holds the two backends and the random source of one test.
type pair struct {
	t   *testing.T
	cpu backend.Backend
	gpu backend.Backend
	rng *rand.Rand
}

func newPair(t *testing.T) *pair {
	t.Helper()
	g, err := Open()
	if err != nil {
		if cuda.Required() {
			t.Fatalf("no usable GPU (%s=1): %v", cuda.RequireEnv, err)
		}
		t.Skipf("no usable GPU: %v", err)
	}
	c := cpu.New()
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		_ = c.Close()
	})
	return &pair{t: t, cpu: c, gpu: g, rng: rand.New(rand.NewPCG(uint64(len(t.Name())), 7))}
}

// Without a GPU the parity tests skip, and with MNISTGPU_REQUIRE_GPU=1 they
// fail instead: run here, in a child process, when no GPU is usable.
func TestRequireGPUTurnsSkipIntoFailure(t *testing.T) {
	if g, err := Open(); err == nil {
		_ = g.Close()
		t.Skip("a GPU is usable here: nothing would skip")
	}
	for _, c := range []struct {
		require  string
		fails    bool
		wantText string
	}{{"", false, "--- SKIP: TestParityDense"}, {"1", true, "--- FAIL: TestParityDense"}} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestParityDense$", "-test.v")
		cmd.Env = append(os.Environ(), cuda.RequireEnv+"="+c.require)
		out, err := cmd.CombinedOutput()
		if (err != nil) != c.fails || !strings.Contains(string(out), c.wantText) {
			t.Errorf("%s=%q: err %v, output:\n%s", cuda.RequireEnv, c.require, err, out)
		}
	}
}

// twin is one tensor on each backend.
type twin struct{ c, g backend.Tensor }

func (p *pair) random(scale float64, shape ...int) twin {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(scale * (2*p.rng.Float64() - 1))
	}
	return p.values(v, shape...)
}

func (p *pair) values(v []float32, shape ...int) twin {
	tw := twin{p.cpu.Alloc(shape...), p.gpu.Alloc(shape...)}
	for _, b := range []struct {
		be backend.Backend
		t  backend.Tensor
	}{{p.cpu, tw.c}, {p.gpu, tw.g}} {
		if err := b.be.Upload(b.t, v); err != nil {
			p.t.Fatal(err)
		}
	}
	return tw
}

func (p *pair) labels(n, classes int) twin {
	v := make([]int32, n)
	for i := range v {
		v[i] = int32(p.rng.IntN(classes))
	}
	tw := twin{p.cpu.AllocInt32(n), p.gpu.AllocInt32(n)}
	if err := p.cpu.UploadInt32(tw.c, v); err != nil {
		p.t.Fatal(err)
	}
	if err := p.gpu.UploadInt32(tw.g, v); err != nil {
		p.t.Fatal(err)
	}
	return tw
}

// garbage is an output tensor pre-filled with a value no op writes, so that
// an op that forgets elements shows.
func (p *pair) garbage(shape ...int) twin {
	tw := twin{p.cpu.Alloc(shape...), p.gpu.Alloc(shape...)}
	p.cpu.Fill(tw.c, 1234.5)
	p.gpu.Fill(tw.g, 1234.5)
	return tw
}

// check downloads both tensors and compares them element by element:
// |gpu - cpu| ≤ atol + rtol·|cpu| with rtol = tol and atol = tol·max|cpu|
// (so values near zero are judged against the output's scale). It logs the
// largest error relative to max|cpu|, reports the first mismatches, and
// returns that figure.
func (p *pair) check(what string, tw twin, tol float64) float64 {
	p.t.Helper()
	for _, be := range []backend.Backend{p.cpu, p.gpu} {
		if err := be.Sync(); err != nil {
			p.t.Fatalf("%s: %s backend: %v", what, be.Name(), err)
		}
	}
	want := make([]float32, tw.c.Len())
	got := make([]float32, tw.g.Len())
	if err := p.cpu.Download(want, tw.c); err != nil {
		p.t.Fatal(err)
	}
	if err := p.gpu.Download(got, tw.g); err != nil {
		p.t.Fatal(err)
	}
	var maxDiff, maxRef float64
	for _, w := range want {
		maxRef = max(maxRef, math.Abs(float64(w)))
	}
	atol := tol * maxRef
	var mismatches []string
	bad := 0
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		maxDiff = max(maxDiff, d)
		if d > atol+tol*math.Abs(float64(want[i])) {
			bad++
			if len(mismatches) < 3 {
				mismatches = append(mismatches, fmt.Sprintf("[%d] gpu %g cpu %g", i, got[i], want[i]))
			}
		}
	}
	rel := maxDiff / max(maxRef, 1e-30)
	p.t.Logf("%-28s %8d values, max |gpu-cpu| = %.2e = %.2e of max |cpu|", what, len(want), maxDiff, rel)
	if bad > 0 {
		p.t.Errorf("%s: %d of %d values off by more than %.0e·(max|cpu| + |cpu|); first: %s", what, bad, len(want), tol, strings.Join(mismatches, ", "))
	}
	return rel
}

func TestParityConv(t *testing.T) {
	p := newPair(t)
	for _, c := range []struct {
		name                  string
		n, h, w, cin, cout, k int
		pad                   int
	}{
		{"first conv 3x3 1->32", 8, 28, 28, 1, 32, 3, 0},
		{"block conv 3x3 same", 8, 26, 26, 32, 32, 3, 1},
		{"block conv 5x5 same", 4, 26, 26, 32, 32, 5, 2},
		{"conv 3x3 32->64", 4, 26, 26, 32, 64, 3, 0},
		{"odd shape", 3, 9, 7, 5, 6, 3, 1},
	} {
		oh, ow := c.h+2*c.pad-c.k+1, c.w+2*c.pad-c.k+1
		x := p.random(1, c.n, c.h, c.w, c.cin)
		w := p.random(0.3, c.k, c.k, c.cin, c.cout)
		bias := p.random(0.5, c.cout)
		y := p.garbage(c.n, oh, ow, c.cout)
		p.cpu.Conv2D(y.c, x.c, w.c, bias.c, c.pad)
		p.gpu.Conv2D(y.g, x.g, w.g, bias.g, c.pad)
		p.check(c.name+" y", y, parityTol)

		dy := p.random(1, c.n, oh, ow, c.cout)
		dx, dw, db := p.garbage(c.n, c.h, c.w, c.cin), p.garbage(c.k, c.k, c.cin, c.cout), p.garbage(c.cout)
		p.cpu.Conv2DBackward(dx.c, dw.c, db.c, dy.c, x.c, w.c, c.pad)
		p.gpu.Conv2DBackward(dx.g, dw.g, db.g, dy.g, x.g, w.g, c.pad)
		p.check(c.name+" dx", dx, parityTol)
		p.check(c.name+" dw", dw, parityTol)
		p.check(c.name+" db", db, parityTol)
	}
}

func TestParityBatchNorm(t *testing.T) {
	p := newPair(t)
	for _, shape := range [][]int{{8, 26, 26, 32}, {64, 128}} {
		ch := shape[len(shape)-1]
		x := p.random(2, shape...)
		gamma, beta := p.random(1, ch), p.random(1, ch)
		mm, mv := p.random(0.5, ch), p.values(positive(p.rng, ch), ch)
		y, mean, inv := p.garbage(shape...), p.garbage(ch), p.garbage(ch)
		p.cpu.BatchNormTrain(y.c, mean.c, inv.c, x.c, gamma.c, beta.c, mm.c, mv.c, model.BNMomentum, model.BNEpsilon)
		p.gpu.BatchNormTrain(y.g, mean.g, inv.g, x.g, gamma.g, beta.g, mm.g, mv.g, model.BNMomentum, model.BNEpsilon)
		p.check("bn train y", y, parityTol)
		p.check("bn saved mean", mean, parityTol)
		p.check("bn saved 1/std", inv, parityTol)
		p.check("bn moving mean", mm, parityTol)
		p.check("bn moving variance (biased)", mv, parityTol)

		dy := p.random(1, shape...)
		dx, dgamma, dbeta := p.garbage(shape...), p.garbage(ch), p.garbage(ch)
		p.cpu.BatchNormBackward(dx.c, dgamma.c, dbeta.c, dy.c, x.c, gamma.c, mean.c, inv.c)
		p.gpu.BatchNormBackward(dx.g, dgamma.g, dbeta.g, dy.g, x.g, gamma.g, mean.g, inv.g)
		p.check("bn dx", dx, parityTol)
		p.check("bn dgamma", dgamma, parityTol)
		p.check("bn dbeta", dbeta, parityTol)

		// In place, as the inference graph runs it.
		p.cpu.BatchNormInfer(x.c, x.c, gamma.c, beta.c, mm.c, mv.c, model.BNEpsilon)
		p.gpu.BatchNormInfer(x.g, x.g, gamma.g, beta.g, mm.g, mv.g, model.BNEpsilon)
		p.check("bn inference in place", x, parityTol)
	}
}

func positive(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(0.1 + r.Float64())
	}
	return v
}

func TestParityElementwiseAndPool(t *testing.T) {
	p := newPair(t)
	x, other := p.random(1, 4, 13, 11, 6), p.random(1, 4, 13, 11, 6)
	y := p.garbage(4, 13, 11, 6)
	p.cpu.ReLU(y.c, x.c)
	p.gpu.ReLU(y.g, x.g)
	p.check("relu", y, 0)
	dx := p.garbage(4, 13, 11, 6)
	p.cpu.ReLUBackward(dx.c, other.c, y.c)
	p.gpu.ReLUBackward(dx.g, other.g, y.g)
	p.check("relu backward", dx, 0)
	sum := p.garbage(4, 13, 11, 6)
	p.cpu.Add(sum.c, x.c, other.c)
	p.gpu.Add(sum.g, x.g, other.g)
	p.check("add", sum, 0)

	// Odd height and width: the last row and column get no window.
	pooled := p.garbage(4, 6, 5, 6)
	p.cpu.MaxPool2x2(pooled.c, x.c)
	p.gpu.MaxPool2x2(pooled.g, x.g)
	p.check("maxpool", pooled, 0)
	dy := p.random(1, 4, 6, 5, 6)
	dpool := p.garbage(4, 13, 11, 6)
	p.cpu.MaxPool2x2Backward(dpool.c, dy.c, x.c, pooled.c)
	p.gpu.MaxPool2x2Backward(dpool.g, dy.g, x.g, pooled.g)
	p.check("maxpool backward", dpool, 0)

	// Ties go to the first maximum on both backends.
	flat := p.values(make([]float32, 2*4*4*3), 2, 4, 4, 3)
	tied, dtied := p.garbage(2, 2, 2, 3), p.garbage(2, 4, 4, 3)
	ones := p.values(onesOf(2*2*2*3), 2, 2, 2, 3)
	p.cpu.MaxPool2x2(tied.c, flat.c)
	p.gpu.MaxPool2x2(tied.g, flat.g)
	p.cpu.MaxPool2x2Backward(dtied.c, ones.c, flat.c, tied.c)
	p.gpu.MaxPool2x2Backward(dtied.g, ones.g, flat.g, tied.g)
	p.check("maxpool backward, ties", dtied, 0)
}

func onesOf(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

func TestParityDense(t *testing.T) {
	p := newPair(t)
	x, w, bias := p.random(1, 64, 9216), p.random(0.05, 9216, 128), p.random(0.5, 128)
	y := p.garbage(64, 128)
	p.cpu.Dense(y.c, x.c, w.c, bias.c)
	p.gpu.Dense(y.g, x.g, w.g, bias.g)
	p.check("dense y", y, parityTol)
	dy := p.random(1, 64, 128)
	dx, dw, db := p.garbage(64, 9216), p.garbage(9216, 128), p.garbage(128)
	p.cpu.DenseBackward(dx.c, dw.c, db.c, dy.c, x.c, w.c)
	p.gpu.DenseBackward(dx.g, dw.g, db.g, dy.g, x.g, w.g)
	p.check("dense dx", dx, parityTol)
	p.check("dense dw", dw, parityTol)
	p.check("dense db", db, parityTol)
}

func TestParityLossConfusionAdam(t *testing.T) {
	p := newPair(t)
	const rows, classes = 1000, 10
	logits, labels := p.random(4, rows, classes), p.labels(rows, classes)
	stats := p.values([]float32{0, 0, 5, 7}, 4) // slot 1 accumulates onto 5 and 7
	dlogits := p.garbage(rows, classes)
	p.cpu.SoftmaxCrossEntropy(dlogits.c, stats.c, 1, logits.c, labels.c)
	p.gpu.SoftmaxCrossEntropy(dlogits.g, stats.g, 1, logits.g, labels.g)
	p.check("softmax-CE loss sum, correct", stats, 1e-5)
	p.check("softmax-CE gradient", dlogits, 1e-5)
	p.cpu.SoftmaxCrossEntropy(nil, stats.c, 0, logits.c, labels.c)
	p.gpu.SoftmaxCrossEntropy(nil, stats.g, 0, logits.g, labels.g)
	p.check("softmax-CE without gradient", stats, 1e-5)

	counts := p.values(make([]float32, classes*classes), classes, classes)
	p.cpu.Confusion(counts.c, logits.c, labels.c)
	p.gpu.Confusion(counts.g, logits.g, labels.g)
	p.check("confusion counts", counts, 0)

	params, m, v := p.random(1, 5000), p.values(make([]float32, 5000), 5000), p.values(make([]float32, 5000), 5000)
	for step := 1; step <= 3; step++ {
		g := p.random(0.1, 5000)
		p.cpu.Adam(params.c, g.c, m.c, v.c, step, 1e-3, model.AdamBeta1, model.AdamBeta2, model.AdamEpsilon)
		p.gpu.Adam(params.g, g.g, m.g, v.g, step, 1e-3, model.AdamBeta1, model.AdamBeta2, model.AdamEpsilon)
	}
	p.check("adam params", params, 1e-6)
	p.check("adam m", m, 1e-6)
	p.check("adam v", v, 1e-6)
}

func TestParityGather(t *testing.T) {
	p := newPair(t)
	const n, side = 50, 28
	pixels := make([]uint8, n*side*side)
	labels := make([]uint8, n)
	for i := range pixels {
		pixels[i] = uint8(p.rng.IntN(256))
	}
	for i := range labels {
		labels[i] = uint8(p.rng.IntN(10))
	}
	order := make([]int32, n)
	for i, j := range p.rng.Perm(n) {
		order[i] = int32(j)
	}
	x, y := p.garbage(16, side, side, 1), twin{p.cpu.AllocInt32(16), p.gpu.AllocInt32(16)}
	for _, be := range []struct {
		b    backend.Backend
		x, y backend.Tensor
	}{{p.cpu, x.c, y.c}, {p.gpu, x.g, y.g}} {
		ds, err := be.b.UploadDataset(pixels, labels, n, side, side)
		if err != nil {
			t.Fatal(err)
		}
		pt := be.b.AllocInt32(n)
		if err := be.b.UploadInt32(pt, order); err != nil {
			t.Fatal(err)
		}
		be.b.GatherBatch(be.x, be.y, ds, pt, 20)
		if err := be.b.Sync(); err != nil {
			t.Fatal(err)
		}
		defer ds.Close()
	}
	p.check("gathered images", x, 0)
	// Download reads float32 only: the labels are compared through the loss
	// and correct count they produce.
	logits := p.random(1, 16, 10)
	stats := p.values(make([]float32, 2), 2)
	p.cpu.SoftmaxCrossEntropy(nil, stats.c, 0, logits.c, y.c)
	p.gpu.SoftmaxCrossEntropy(nil, stats.g, 0, logits.g, y.g)
	p.check("loss on gathered labels", stats, 1e-5)
}

// TestParityTraining trains 50 steps from the same initial weights on the
// same batches on both backends and compares the per-step losses. Float32
// training is chaotic: the two runs agree to rounding on the first step and
// drift apart after it (the CPU backend replayed in PyTorch differed by
// 1e-4 at step 2, 7e-4 at step 3 and 3e-2 by step 10; see
// bench/results/2026-11-27-h200-torch-parity.md). So steps 1-3 are held
// tight, the later ones only through means over the last steps and the
// test losses, and the whole table is always logged.
func TestParityTraining(t *testing.T) {
	p := newPair(t)
	trainSet, testSet := syntheticSet(p.rng, 50*32), syntheticSet(p.rng, 500)
	opts := train.Options{Epochs: 1, BatchSize: 32, LR: 1e-3, Seed: 3, TestEvery: 25, EvalBatch: 250, SkipTrainEval: true}
	var results [2]*train.Result
	for i, be := range []backend.Backend{p.cpu, p.gpu} {
		spec, err := model.Declare(model.Config{Kernel: 3})
		if err != nil {
			t.Fatal(err)
		}
		m, err := model.New(be, spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Init(11); err != nil {
			t.Fatal(err)
		}
		if results[i], err = train.Run(context.Background(), m, trainSet, testSet, opts); err != nil {
			t.Fatalf("%s: %v", be.Name(), err)
		}
	}
	c, g := results[0].Steps, results[1].Steps
	if len(c) != 50 || len(g) != 50 {
		t.Fatalf("steps: cpu %d, gpu %d, want 50", len(c), len(g))
	}
	cpuLoss, gpuLoss := make([]float64, len(c)), make([]float64, len(g))
	for i := range c {
		cpuLoss[i], gpuLoss[i] = c[i].BatchLoss, g[i].BatchLoss
		line := fmt.Sprintf("step %2d: batch loss cpu %.6f gpu %.6f (%.2e)", i+1, c[i].BatchLoss, g[i].BatchLoss, relDiff(g[i].BatchLoss, c[i].BatchLoss))
		if c[i].HasTest() {
			line += fmt.Sprintf(", test loss cpu %.6f gpu %.6f (%.2e)", c[i].TestLoss, g[i].TestLoss, relDiff(g[i].TestLoss, c[i].TestLoss))
		}
		t.Log(line)
	}
	for _, f := range trainingParity(cpuLoss, gpuLoss, testLosses(c), testLosses(g)) {
		t.Error(f)
	}
}

// Tolerances of TestParityTraining: per step on the first steps, on the
// mean of the last tailSteps batch losses, and on each test loss.
var earlyStepTol = [...]float64{parityTol, 1e-2, 2e-2}

const (
	tailSteps = 10
	tailTol   = 0.25
	testTol   = 0.25
)

// trainingParity compares two runs' batch losses and test losses and
// returns what is out of tolerance.
func trainingParity(cpuLoss, gpuLoss, cpuTest, gpuTest []float64) []string {
	var fails []string
	if len(cpuLoss) != len(gpuLoss) || len(cpuTest) != len(gpuTest) || len(cpuLoss) < max(len(earlyStepTol), tailSteps) {
		return []string{fmt.Sprintf("runs of %d and %d steps, %d and %d test losses", len(cpuLoss), len(gpuLoss), len(cpuTest), len(gpuTest))}
	}
	for i, tol := range earlyStepTol {
		if d := relDiff(gpuLoss[i], cpuLoss[i]); !(d <= tol) {
			fails = append(fails, fmt.Sprintf("step %d: batch loss gpu %.6f vs cpu %.6f differs by %.2e > %.0e", i+1, gpuLoss[i], cpuLoss[i], d, tol))
		}
	}
	n := len(cpuLoss)
	cm, gm := mean(cpuLoss[n-tailSteps:]), mean(gpuLoss[n-tailSteps:])
	if d := relDiff(gm, cm); !(d <= tailTol) {
		fails = append(fails, fmt.Sprintf("mean batch loss of the last %d steps: gpu %.6f vs cpu %.6f differs by %.2e > %.2f", tailSteps, gm, cm, d, tailTol))
	}
	for i := range cpuTest {
		if d := relDiff(gpuTest[i], cpuTest[i]); !(d <= testTol) {
			fails = append(fails, fmt.Sprintf("test loss %d: gpu %.6f vs cpu %.6f differs by %.2e > %.2f", i+1, gpuTest[i], cpuTest[i], d, testTol))
		}
	}
	return fails
}

// The training comparison's judgement, on made-up runs: a correct backend's
// chaotic drift after step 3 passes, a wrong first steps or tail fails,
// and NaN never passes.
func TestTrainingParityTolerance(t *testing.T) {
	ref := make([]float64, 50)
	for i := range ref {
		ref[i] = 2.3 / float64(1+i)
	}
	drifted := func(change func(v []float64)) []float64 {
		v := make([]float64, len(ref))
		for i := range v {
			v[i] = ref[i]
			if i >= 3 {
				v[i] *= 1 + 0.2*float64(i%3-1) // ±20% per step, as chaotic float32 training drifts
			}
		}
		change(v)
		return v
	}
	test := []float64{0.5, 0.3}
	for _, c := range []struct {
		name     string
		gpu      []float64
		gpuTest  []float64
		failures int
	}{
		{"identical", drifted(func([]float64) {}), test, 0},
		{"step 1 off by 2e-3", drifted(func(v []float64) { v[0] *= 1.002 }), test, 1},
		{"step 3 off by 5%", drifted(func(v []float64) { v[2] *= 1.05 }), test, 1},
		{"tail twice as high", drifted(func(v []float64) {
			for i := 40; i < 50; i++ {
				v[i] *= 2
			}
		}), test, 1},
		{"NaN at step 2", drifted(func(v []float64) { v[1] = math.NaN() }), test, 1},
		{"test loss off by half", drifted(func([]float64) {}), []float64{0.5, 0.45}, 1},
	} {
		if got := trainingParity(ref, c.gpu, test, c.gpuTest); len(got) != c.failures {
			t.Errorf("%s: %d failures, want %d: %q", c.name, len(got), c.failures, got)
		}
	}
}

func testLosses(steps []metrics.Step) []float64 {
	var out []float64
	for _, s := range steps {
		if s.HasTest() {
			out = append(out, s.TestLoss)
		}
	}
	return out
}

// relDiff is |a-b|/|b|; NaN when either is NaN, so that comparisons fail.
func relDiff(a, b float64) float64 { return math.Abs(a-b) / math.Abs(b) }

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// syntheticSet is n random images whose label decides which quadrant is
// bright, so that training makes progress.
func syntheticSet(r *rand.Rand, n int) *mnist.Set {
	s := &mnist.Set{Images: make([]uint8, n*28*28), Labels: make([]uint8, n), N: n, Rows: 28, Cols: 28}
	for i := range n {
		label := r.IntN(10)
		s.Labels[i] = uint8(label)
		for p := range 28 * 28 {
			v := r.IntN(64)
			if (p/28)/3 == label || (p%28)/3 == label {
				v += 160
			}
			s.Images[i*28*28+p] = uint8(v)
		}
	}
	return s
}

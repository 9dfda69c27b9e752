package model_test

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/cpu"
	"github.com/mnistgpu/mnistgpu/internal/backend"
	"github.com/mnistgpu/mnistgpu/internal/model"
)

// TestParamCounts pins the Keras counts of the seed's model.
func TestParamCounts(t *testing.T) {
	for _, tc := range []struct{ kernel, total, trainable, nonTrainable int }{
		{3, 1219530, 1218954, 576},
		{5, 1252298, 1251722, 576},
		{1, 1203146, 1202570, 576},
	} {
		spec, err := model.Declare(model.Config{Kernel: tc.kernel})
		if err != nil {
			t.Fatal(err)
		}
		total, trainable, nonTrainable := spec.Counts()
		if total != tc.total || trainable != tc.trainable || nonTrainable != tc.nonTrainable {
			t.Errorf("k=%d: counts %d/%d/%d, want %d/%d/%d", tc.kernel, total, trainable, nonTrainable, tc.total, tc.trainable, tc.nonTrainable)
		}
	}
}

func TestSummaryTable(t *testing.T) {
	for kernel, want := range map[int][]string{
		3: {"Total params: 1,219,530", "Trainable params: 1,218,954", "Non-trainable params: 576", "(None, 26, 26, 32)", "(None, 9216)", "resblock_conv_a (Conv2D)", "9,248"},
		5: {"Total params: 1,252,298", "Trainable params: 1,251,722", "Non-trainable params: 576", "25,632"},
	} {
		spec, _ := model.Declare(model.Config{Kernel: kernel})
		var out bytes.Buffer
		if err := spec.WriteSummary(&out); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("k=%d summary lacks %q:\n%s", kernel, w, out.String())
			}
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 576: "576", 1000: "1,000", 1219530: "1,219,530", -1234: "-1,234"} {
		if got := model.Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for k, ok := range map[int]bool{1: true, 3: true, 5: true, 25: true, 0: false, -3: false, 4: false, 27: false} {
		if err := (model.Config{Kernel: k}).Validate(); (err == nil) != ok {
			t.Errorf("kernel %d: err = %v, want ok=%v", k, err, ok)
		}
	}
}

// TestInitKeras checks the initial values against Keras' initializers.
func TestInitKeras(t *testing.T) {
	be := cpu.New()
	m := newModel(t, be, 3)
	values, err := m.Values()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Spec.Params {
		v := values[p.Name]
		switch p.Init {
		case model.Zeros, model.Ones:
			want := float32(0)
			if p.Init == model.Ones {
				want = 1
			}
			for _, x := range v {
				if x != want {
					t.Fatalf("%s: value %g, want %g", p.Name, x, want)
				}
			}
		case model.GlorotUniform:
			limit := math.Sqrt(6 / float64(p.FanIn+p.FanOut))
			sum, sumSq := 0.0, 0.0
			for _, x := range v {
				if math.Abs(float64(x)) > limit {
					t.Fatalf("%s: %g outside ±%g", p.Name, x, limit)
				}
				sum += float64(x)
				sumSq += float64(x) * float64(x)
			}
			n := float64(len(v))
			// Uniform(-L, L) has variance L²/3; allow sampling noise.
			if variance := sumSq/n - (sum/n)*(sum/n); math.Abs(variance/(limit*limit/3)-1) > 0.2 {
				t.Errorf("%s: variance %g, want about %g", p.Name, variance, limit*limit/3)
			}
		}
	}
}

// meanLoss runs a training-mode forward pass and returns the mean loss.
func meanLoss(t *testing.T, be backend.Backend, m *model.Model, k *model.Batch) float64 {
	stats := be.Alloc(2)
	m.Forward(k)
	be.SoftmaxCrossEntropy(nil, stats, 0, k.Logits, k.Labels)
	out := make([]float32, 2)
	if err := be.Download(out, stats); err != nil {
		t.Fatal(err)
	}
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	return float64(out[0]) / float64(k.N)
}

// TestModelGradients checks the whole graph's backward pass (including the
// ResNet shortcut and every batch norm in training mode) against central
// differences of the loss, on the entries with the largest gradients of
// every trainable parameter. The per-op float64 checks live in cpu/; this
// one catches wiring mistakes between ops.
func TestModelGradients(t *testing.T) {
	for _, kernel := range []int{3, 5} {
		t.Run(fmt.Sprintf("k=%d", kernel), func(t *testing.T) {
			be := cpu.New()
			m := newModel(t, be, kernel)
			const n = 6
			ds, perm := randomDataset(t, be, n, 11)
			k, err := m.NewBatch(n, true)
			if err != nil {
				t.Fatal(err)
			}
			be.GatherBatch(k.X, k.Labels, ds, perm, 0)
			stats := be.Alloc(2)
			m.Forward(k)
			m.Backward(k, stats, 0)
			grads, err := m.Gradients()
			if err != nil {
				t.Fatal(err)
			}
			values, err := m.Values()
			if err != nil {
				t.Fatal(err)
			}
			const h = 1e-3
			worst := 0.0
			zeroChecked := 0
			for _, p := range m.Spec.Params {
				if !p.Trainable {
					continue
				}
				g := grads[p.Name]
				if biasIntoBatchNorm[p.Name] {
					zeroChecked++
					// A batch norm removes any per-channel constant, so the
					// true gradient is exactly 0; a difference quotient
					// would measure only float32 noise.
					for i, v := range g {
						if math.Abs(float64(v)) > 1e-5 {
							t.Errorf("%s[%d]: gradient %g, want 0 (the batch norm after it cancels a bias)", p.Name, i, v)
						}
					}
					continue
				}
				idx := make([]int, len(g))
				for i := range idx {
					idx[i] = i
				}
				slices.SortFunc(idx, func(a, b int) int { return -cmpAbs(g[a], g[b]) })
				for _, i := range idx[:min(2, len(idx))] {
					orig := values[p.Name][i]
					values[p.Name][i] = orig + h
					if err := m.SetValues(values); err != nil {
						t.Fatal(err)
					}
					up := meanLoss(t, be, m, k)
					values[p.Name][i] = orig - h
					if err := m.SetValues(values); err != nil {
						t.Fatal(err)
					}
					down := meanLoss(t, be, m, k)
					values[p.Name][i] = orig
					numeric := (up - down) / (2 * h)
					analytic := float64(g[i])
					// float32 forward passes leave ~1e-4 of noise in the
					// difference quotient.
					err := math.Abs(numeric-analytic) / (4e-3 + math.Abs(numeric))
					worst = max(worst, err)
					if err > 0.1 {
						t.Errorf("%s[%d]: analytic %g, numeric %g (rel err %.3g)", p.Name, i, analytic, numeric, err)
					}
				}
			}
			if zeroChecked != len(biasIntoBatchNorm) {
				t.Errorf("checked %d biases for a zero gradient, want %d: the layer names changed", zeroChecked, len(biasIntoBatchNorm))
			}
			t.Logf("largest relative error over all parameters: %.3g", worst)
		})
	}
}

// biasIntoBatchNorm names the biases whose layer feeds a batch norm
// directly (no ReLU between), whose gradient is therefore 0.
var biasIntoBatchNorm = map[string]bool{"resblock_conv_a/bias": true, "resblock_conv_b/bias": true}

func cmpAbs(a, b float32) int {
	x, y := math.Abs(float64(a)), math.Abs(float64(b))
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// TestInferenceMatchesTrainingWithBatchStatistics: with the moving
// statistics set to one batch's own statistics, inference and
// training mode must give nearly the same logits for that batch; before,
// with the initial statistics (0, 1), they must differ. The tolerance is
// loose because float32 moving averages near eps=1e-3 are only roughly exact,
// but an inference pass that ignored the moving statistics fails either way.
func TestInferenceMatchesTrainingWithBatchStatistics(t *testing.T) {
	be := cpu.New()
	m := newModel(t, be, 3)
	const n = 4
	ds, perm := randomDataset(t, be, n, 5)
	train, _ := m.NewBatch(n, true)
	infer, _ := m.NewBatch(n, false)
	be.GatherBatch(train.X, train.Labels, ds, perm, 0)
	be.GatherBatch(infer.X, infer.Labels, ds, perm, 0)
	logits := func(k *model.Batch) []float32 {
		m.Forward(k)
		out := make([]float32, n*model.NumClasses)
		if err := be.Download(out, k.Logits); err != nil {
			t.Fatal(err)
		}
		return out
	}
	diff := func(a, b []float32) float64 {
		worst := 0.0
		for i := range a {
			worst = max(worst, math.Abs(float64(a[i]-b[i]))/(1+math.Abs(float64(a[i]))))
		}
		return worst
	}
	before := diff(logits(train), logits(infer))
	if before < 0.1 {
		t.Fatalf("with initial moving statistics, inference differs from training by only %.3g; the test cannot tell the modes apart", before)
	}
	// Recover each batch norm's batch statistics from one training pass
	// starting at (mean 0, var 1): moving = 0.99·initial + 0.01·batch.
	if err := m.Init(7); err != nil {
		t.Fatal(err)
	}
	want := logits(train)
	values, err := m.Values()
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range values {
		switch {
		case strings.HasSuffix(name, "/moving_mean"):
			for i := range v {
				v[i] /= 1 - model.BNMomentum
			}
		case strings.HasSuffix(name, "/moving_variance"):
			for i := range v {
				v[i] = (v[i] - model.BNMomentum) / (1 - model.BNMomentum)
			}
		}
	}
	if err := m.SetValues(values); err != nil {
		t.Fatal(err)
	}
	got := logits(infer)
	if after := diff(want, got); after > 0.03 {
		t.Fatalf("after convergence, inference differs from training by %.3g (relative); before it was %.3g", after, before)
	} else {
		t.Logf("relative logit difference: %.3g before, %.3g after", before, after)
	}
}

// TestNativeUnitsMatchComposed trains a few steps with the CPU backend's
// own (fused) units and with the composed ones, the plain ops each stands
// for, on the same backend: losses, gradients, parameters, moving
// statistics and inference logits must be the same bits.
func TestNativeUnitsMatchComposed(t *testing.T) {
	for _, kernel := range []int{3, 5} {
		t.Run(fmt.Sprintf("k=%d", kernel), func(t *testing.T) { testNativeUnitsMatchComposed(t, kernel) })
	}
}

// testNativeUnitsMatchComposed trains a few steps with the CPU backend's
// units (fused, on padded activations) and with backend.Composed over its
// plain ops, and compares the results to the bit.
func testNativeUnitsMatchComposed(t *testing.T, kernel int) {
	type run struct {
		losses []float32
		values map[string][]float32
		grads  map[string][]float32 // of the last step
		logits []float32
	}
	train := func(be backend.Backend) run {
		m := newModel(t, be, kernel)
		const n = 12
		ds, perm := randomDataset(t, be, n, 21)
		k, err := m.NewBatch(n, true)
		if err != nil {
			t.Fatal(err)
		}
		be.GatherBatch(k.X, k.Labels, ds, perm, 0)
		const steps = 3
		stats := be.Alloc(2 * steps)
		for s := range steps {
			m.TrainStep(k, stats, s, 1e-3)
		}
		var r run
		r.losses = make([]float32, 2*steps)
		if err := be.Download(r.losses, stats); err != nil {
			t.Fatal(err)
		}
		if r.values, err = m.Values(); err != nil {
			t.Fatal(err)
		}
		if r.grads, err = m.Gradients(); err != nil {
			t.Fatal(err)
		}
		r.logits = inferenceLogits(t, be, m, ds, perm, n)
		if err := be.Sync(); err != nil {
			t.Fatal(err)
		}
		return r
	}
	native, composed := train(cpu.New()), train(backend.Composed{Ops: cpu.New()})
	if !slices.Equal(native.losses, composed.losses) {
		t.Errorf("loss sums and correct counts %v, composed units %v", native.losses, composed.losses)
	}
	for name, v := range composed.values {
		if !slices.Equal(native.values[name], v) {
			t.Errorf("%s differs after training", name)
		}
	}
	for name, g := range composed.grads {
		if !slices.Equal(native.grads[name], g) {
			t.Errorf("the gradient of %s differs", name)
		}
	}
	if !slices.Equal(native.logits, composed.logits) {
		t.Errorf("inference logits differ")
	}
}

// TestTrainStepAllocatesNothing: a steady-state training step on the CPU
// backend makes no heap allocation (the fused ops' per-call checks once
// built strings every step; the benchmarks' allocs/op would show it, this
// makes CI fail on it). A batch of 8 keeps it quick.
func TestTrainStepAllocatesNothing(t *testing.T) {
	be := cpu.New()
	m := newModel(t, be, 3)
	ds, perm := randomDataset(t, be, 8, 3)
	k, err := m.NewBatch(8, true)
	if err != nil {
		t.Fatal(err)
	}
	stats := be.Alloc(2)
	step := func() {
		be.GatherBatch(k.X, k.Labels, ds, perm, 0)
		m.TrainStep(k, stats, 0, 1e-3)
	}
	step() // buffers grow on the first step
	if allocs := testing.AllocsPerRun(5, step); allocs != 0 {
		t.Errorf("%v allocations per training step, want 0", allocs)
	}
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
}

// inferenceLogits runs an inference pass over the first n images of ds
// (in perm's order) and returns the logits.
func inferenceLogits(t *testing.T, be backend.Backend, m *model.Model, ds backend.Dataset, perm backend.Tensor, n int) []float32 {
	t.Helper()
	infer, err := m.NewBatch(n, false)
	if err != nil {
		t.Fatal(err)
	}
	be.GatherBatch(infer.X, infer.Labels, ds, perm, 0)
	m.Forward(infer)
	logits := make([]float32, n*model.NumClasses)
	if err := be.Download(logits, infer.Logits); err != nil {
		t.Fatal(err)
	}
	return logits
}

// TestNewRefusesTableGraphMismatch: the graph's layers are bound from the
// parameter table by name, so a table that lacks a parameter or a layer
// the graph uses, or has a parameter no layer takes, fails model.New with
// an error naming it rather than leaving a nil tensor for a step to hit.
func TestNewRefusesTableGraphMismatch(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		edit       func(s *model.Spec)
	}{
		{"parameter missing", "resblock_bn_a/beta", func(s *model.Spec) {
			s.Params = slices.DeleteFunc(s.Params, func(p model.Param) bool { return p.Name == "resblock_bn_a/beta" })
		}},
		{"parameter extra", "extra/kernel", func(s *model.Spec) {
			s.Params = append(s.Params, model.Param{Name: "extra/kernel", Shape: []int{2}, Trainable: true})
		}},
		{"layer row missing", "resblock_conv_b", func(s *model.Spec) {
			s.Layers = slices.DeleteFunc(s.Layers, func(l model.Layer) bool { return l.Name == "resblock_conv_b" })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := model.Declare(model.Config{Kernel: 3})
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(spec)
			_, err = model.New(cpu.New(), spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// TestPaddingFromTable: the block's convolutions are 'same' (k/2 zero
// pixels each side), the others 'valid', as the layer table says.
func TestPaddingFromTable(t *testing.T) {
	for _, k := range []int{1, 3, 5} {
		spec, err := model.Declare(model.Config{Kernel: k})
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]int{"conv2d": 0, "resblock_conv_a": k / 2, "resblock_conv_b": k / 2, "conv2d_1": 0} {
			if l, ok := spec.Layer(name); !ok || l.Pad != want {
				t.Errorf("k=%d: layer %s pad %d (found %v), want %d", k, name, l.Pad, ok, want)
			}
		}
	}
}

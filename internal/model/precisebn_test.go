package model_test

import (
	"math"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/cpu"
	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// TestPreciseBatchNorm: precise BN over one batch makes inference compute
// what training mode computes on that batch (the moving statistics are
// then that batch's); over two batches each statistic is the plain
// average of the two single-batch ones; and no trainable value moves.
func TestPreciseBatchNorm(t *testing.T) {
	be := cpu.New()
	const n = 4
	m := newModel(t, be, 3)
	ds, perm := randomDataset(t, be, 2*n, 5)
	k, err := m.NewBatch(n, true)
	if err != nil {
		t.Fatal(err)
	}
	infer, _ := m.NewBatch(n, false)
	fill := func(first int) func(i int) {
		return func(i int) { be.GatherBatch(k.X, k.Labels, ds, perm, (first+i)*n) }
	}
	before, err := m.Values()
	if err != nil {
		t.Fatal(err)
	}
	precise := func(first, batches int) map[string][]float32 {
		t.Helper()
		if err := m.SetValues(before); err != nil {
			t.Fatal(err)
		}
		if err := m.PreciseBatchNorm(k, batches, fill(first)); err != nil {
			t.Fatal(err)
		}
		v, err := m.Values()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	one := precise(0, 1)
	be.GatherBatch(infer.X, infer.Labels, ds, perm, 0)
	m.Forward(infer)
	got := download(t, be, infer.Logits)
	be.GatherBatch(k.X, k.Labels, ds, perm, 0)
	m.Forward(k) // training mode: the batch's own statistics
	want := download(t, be, k.Logits)
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-3*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("logit %d: inference after precise BN over the batch %g, training mode %g", i, got[i], want[i])
		}
	}

	second, both := precise(1, 1), precise(0, 2)
	changed := 0
	for _, p := range m.Spec.Params {
		b, a := before[p.Name], both[p.Name]
		stat := strings.HasSuffix(p.Name, "/moving_mean") || strings.HasSuffix(p.Name, "/moving_variance")
		for i := range a {
			switch {
			case !stat && a[i] != b[i]:
				t.Fatalf("%s[%d] changed from %g to %g: precise BN must leave the weights alone", p.Name, i, b[i], a[i])
			case stat:
				avg := (float64(one[p.Name][i]) + float64(second[p.Name][i])) / 2
				if d := math.Abs(float64(a[i]) - avg); d > 1e-4*(1+math.Abs(avg)) {
					t.Fatalf("%s[%d] = %g over two batches, want the average %g of the single-batch values", p.Name, i, a[i], avg)
				}
				if a[i] != b[i] {
					changed++
				}
			}
		}
	}
	if changed < 500 { // of 576 statistics, a few may stay 0 (dead ReLUs)
		t.Errorf("only %d of 576 moving statistics changed", changed)
	}
	if err := m.PreciseBatchNorm(infer, 1, fill(0)); err == nil {
		t.Error("an inference batch was accepted")
	}
	if err := m.PreciseBatchNorm(k, 0, fill(0)); err == nil {
		t.Error("0 batches were accepted")
	}
}

func download(t *testing.T, be backend.Backend, x backend.Tensor) []float32 {
	t.Helper()
	out := make([]float32, x.Len())
	if err := be.Download(out, x); err != nil {
		t.Fatal(err)
	}
	return out
}

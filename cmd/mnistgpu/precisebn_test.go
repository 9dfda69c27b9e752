package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/metrics"
	"github.com/mnistgpu/mnistgpu/internal/train"
)

// TestPreciseBN: sixteen steps leave the moving averages near their
// initial values (0.99^16 = 85% of them), so the Keras-style test loss is
// far above what the weights can do; precise BN brings it down and lifts
// the accuracy. (This task is too easy for the accuracy to lag by the 20
// points that print the lag note: TestBNLagNote covers that.)
func TestPreciseBN(t *testing.T) {
	data := synthDir(t)
	out := filepath.Join(t.TempDir(), "run")
	r := mnistgpu(t, nil, "", "train", "--device", "cpu", "--epochs", "1", "--limit-train", "256", "--limit-test", "128",
		"--batch-size", "16", "--test-every", "0", "--eval-batch", "128", "--skip-train-eval", "--precise-bn", "8",
		"--out", out, "--data-dir", data)
	if r.code != 0 {
		t.Fatalf("train failed:\n%v", r)
	}
	s := readSummary(t, out)
	keras, precise := number(t, s, "test_acc"), number(t, s, "precise_bn_test_acc")
	kerasLoss, preciseLoss := number(t, s, "test_loss"), number(t, s, "precise_bn_test_loss")
	if got := number(t, s, "precise_bn_batches"); got != 8 {
		t.Errorf("precise_bn_batches %v, want 8", got)
	}
	t.Logf("test accuracy: %.3f with Keras' moving averages, %.3f with precise BN; loss %.3f, %.3f", keras, precise, kerasLoss, preciseLoss)
	if precise < keras+0.1 || preciseLoss > kerasLoss/2 {
		t.Errorf("precise BN test accuracy %.3f, loss %.3f; want 10 points over Keras' %.3f and under half its loss %.3f", precise, preciseLoss, keras, kerasLoss)
	}
	for _, w := range []string{"Keras' moving averages)", "(precise BN: statistics over 8 training batches)"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
}

func TestBNLagNote(t *testing.T) {
	run := func(steps int, running, test float64) *train.Result {
		res := &train.Result{Test: &train.Evaluation{Accuracy: test}}
		for i := range steps {
			res.Steps = append(res.Steps, metrics.Step{Step: i + 1, RunningAcc: running})
		}
		return res
	}
	for _, tc := range []struct {
		name    string
		res     *train.Result
		precise bool
		want    []string // "" for no note
	}{
		{"Fashion-MNIST 200 steps", run(200, 0.83, 0.42), false,
			[]string{"42.0% is 41 points below the running training accuracy 83.0%", "momentum 0.99", "after 200 steps", "0.99^200 = 13%", "under 1% only after 459 steps", "--precise-bn 100"}},
		{"with precise BN", run(30, 0.9, 0.1), true, []string{"after 30 steps", "0.99^30 = 74%", "precise-BN result above"}},
		{"one epoch, no lag", run(938, 0.95, 0.98), false, nil},
		{"gap of 19 points", run(100, 0.9, 0.71), false, nil},
		{"no test result", &train.Result{Steps: run(5, 0.9, 0).Steps}, false, nil},
		{"no steps", &train.Result{Test: &train.Evaluation{}}, false, nil},
		{"nan running accuracy", run(3, math.NaN(), 0.1), false, nil},
	} {
		note := bnLagNote(tc.res, tc.precise)
		if tc.want == nil {
			if note != "" {
				t.Errorf("%s: want no note, got %q", tc.name, note)
			}
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(note, w) {
				t.Errorf("%s: note lacks %q: %q", tc.name, w, note)
			}
		}
	}
}

package train_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/metrics"
	"github.com/mnistgpu/mnistgpu/internal/model"
	"github.com/mnistgpu/mnistgpu/internal/train"
)

// stopAt names a moment to interrupt a run: after step Done, or during the
// pass Stage announces after it.
type stopAt struct {
	Done  int
	Stage string
}

// TestResumeIsBitIdentical interrupts a run (2 epochs of 4 steps of 16
// images, the last of each 12, a test pass every 3 steps) at each kind of
// moment, continues it from its State and the model's weights and
// optimizer state moved to a fresh model, and requires the records, the
// final evaluation, the weights and Adam's state of the run left alone, to
// the bit.
func TestResumeIsBitIdentical(t *testing.T) {
	trainSet, testSet := blocks(60, 1), blocks(20, 2)
	o := options()
	o.BatchSize, o.TestEvery = 16, 3
	alone := newModel(t, 3, 5)
	want, err := train.Run(context.Background(), alone, trainSet, testSet, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, stops := range [][]stopAt{
		{{Done: 1}},
		{{Done: 3, Stage: train.StageTest}}, // the periodic test pass runs again
		{{Done: 4}},                         // in the test pass at an epoch's end (cancelled before it starts)
		{{Done: 6}},
		{{Done: 8, Stage: train.StageFinalTest}},
		{{Done: 2}, {Done: 5}, {Done: 7}}, // resumed twice
	} {
		t.Run(fmt.Sprint(stops), func(t *testing.T) {
			m := newModel(t, 3, 5)
			var state *train.State
			for _, stop := range stops {
				ctx, cancel := context.WithCancel(context.Background())
				run := o
				run.Resume = state
				run.OnProgress = func(p train.Progress) {
					if p.Done == stop.Done && p.Stage == stop.Stage {
						cancel()
					}
				}
				res, err := train.Run(ctx, m, trainSet, testSet, run)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				if !res.Interrupted || res.State.Step != stop.Done {
					t.Fatalf("stop %v: interrupted %v at step %d", stop, res.Interrupted, res.State.Step)
				}
				state = res.State
				m = moveTo(t, m, newModel(t, 3, 99)) // a fresh process
			}
			run := o
			run.Resume = state
			got, err := train.Run(context.Background(), m, trainSet, testSet, run)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Steps) != len(want.Steps) {
				t.Fatalf("%d records, want %d", len(got.Steps), len(want.Steps))
			}
			for i := range want.Steps {
				if g, w := got.Steps[i], want.Steps[i]; !sameStep(g, w) {
					t.Fatalf("record %d: %+v, the run left alone %+v", i, g, w)
				}
			}
			if got.Test.Loss != want.Test.Loss || got.Test.Confusion != want.Test.Confusion {
				t.Errorf("final test loss %v, want %v", got.Test.Loss, want.Test.Loss)
			}
			wantModel, gotModel := moveTo(t, alone, newModel(t, 3, 1)), m
			wantValues, _ := wantModel.Values()
			gotValues, _ := gotModel.Values()
			for name, v := range wantValues {
				if !slices.Equal(gotValues[name], v) {
					t.Errorf("%s differs from the run left alone", name)
				}
			}
			wantOpt, _ := wantModel.OptimizerState()
			gotOpt, _ := gotModel.OptimizerState()
			if gotOpt.Step != wantOpt.Step || !slices.Equal(gotOpt.M, wantOpt.M) || !slices.Equal(gotOpt.V, wantOpt.V) {
				t.Errorf("Adam's state differs from the run left alone (step %d, want %d)", gotOpt.Step, wantOpt.Step)
			}
		})
	}
}

// TestNoStateAfterPreciseBN: a run stopped once precise BN has replaced
// the moving statistics has no state to continue from (its weights are not
// the loop's any more); one stopped before it has.
func TestNoStateAfterPreciseBN(t *testing.T) {
	o := options()
	o.PreciseBN = 2
	for _, c := range []struct {
		stage string
		state bool
	}{{train.StageFinalTest, true}, {train.StagePreciseBN, false}} {
		ctx, cancel := context.WithCancel(context.Background())
		o.OnProgress = func(p train.Progress) {
			if p.Stage == c.stage { // the first final test pass comes before precise BN
				cancel()
			}
		}
		res, err := train.Run(ctx, newModel(t, 3, 1), blocks(64, 1), blocks(20, 2), o)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !res.Interrupted || (res.State != nil) != c.state {
			t.Errorf("stopped at %q: interrupted %v, state %v, want state %v", c.stage, res.Interrupted, res.State != nil, c.state)
		}
	}
}

// TestResumeRefusesAStateThatDoesNotFit: a state from another run's
// geometry is an error, not a silent misplacement.
func TestResumeRefusesAStateThatDoesNotFit(t *testing.T) {
	o := options()
	o.Resume = &train.State{Step: 50, Epoch: 1}
	if _, err := train.Run(context.Background(), newModel(t, 3, 1), blocks(100, 1), blocks(10, 2), o); err == nil {
		t.Fatal("a state of step 50 was accepted for a run of 8 steps")
	}
}

func sameStep(a, b metrics.Step) bool {
	return a.Step == b.Step && a.Epoch == b.Epoch && sameFloat(a.BatchLoss, b.BatchLoss) && sameFloat(a.RunningLoss, b.RunningLoss) &&
		sameFloat(a.RunningAcc, b.RunningAcc) && sameFloat(a.TestLoss, b.TestLoss) && sameFloat(a.TestAcc, b.TestAcc)
}

// moveTo copies weights and optimizer state into a fresh model, as a
// checkpoint does.
func moveTo(t *testing.T, from, to *model.Model) *model.Model {
	t.Helper()
	v, err := from.Values()
	if err != nil {
		t.Fatal(err)
	}
	opt, err := from.OptimizerState()
	if err != nil {
		t.Fatal(err)
	}
	if err := to.SetValues(v); err != nil {
		t.Fatal(err)
	}
	if err := to.SetOptimizerState(opt); err != nil {
		t.Fatal(err)
	}
	return to
}

package train_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/cpu"
	"github.com/mnistgpu/mnistgpu/internal/metrics"
	"github.com/mnistgpu/mnistgpu/internal/mnist"
	"github.com/mnistgpu/mnistgpu/internal/model"
	"github.com/mnistgpu/mnistgpu/internal/train"
)

// blocks is a learnable stand-in for MNIST: each label puts a bright 8x8
// block at its own place on a noisy background.
func blocks(n int, seed uint64) *mnist.Set {
	rng := rand.New(rand.NewPCG(seed, 9))
	const side = model.ImageSize
	s := &mnist.Set{Images: make([]uint8, n*side*side), Labels: make([]uint8, n), N: n, Rows: side, Cols: side}
	for i := 0; i < n; i++ {
		label := rng.IntN(model.NumClasses)
		s.Labels[i] = uint8(label)
		img := s.Images[i*side*side : (i+1)*side*side]
		for j := range img {
			img[j] = uint8(rng.IntN(60))
		}
		y0, x0 := 2+(label/5)*13, 1+(label%5)*5
		for y := y0; y < y0+8; y++ {
			for x := x0; x < min(x0+8, side); x++ {
				img[y*side+x] = uint8(200 + rng.IntN(56))
			}
		}
	}
	return s
}

func newModel(t *testing.T, kernel int, seed uint64) *model.Model {
	t.Helper()
	spec, err := model.Declare(model.Config{Kernel: kernel})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(cpu.New(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(seed); err != nil {
		t.Fatal(err)
	}
	return m
}

func options() train.Options {
	return train.Options{Epochs: 2, BatchSize: 32, LR: 1e-3, Seed: 3, TestEvery: 5, EvalBatch: 100}
}

// TestTrainingReducesLoss: a short run on a learnable task must cut the loss.
// (Inference-mode accuracy is not asserted: after 30 steps the BN moving
// averages, momentum 0.99, still hold most of their initial values, exactly
// as in Keras.)
func TestTrainingReducesLoss(t *testing.T) {
	trainSet, testSet := blocks(320, 1), blocks(100, 2)
	o := options()
	o.Epochs = 3
	res, err := train.Run(context.Background(), newModel(t, 3, 1), trainSet, testSet, o)
	if err != nil {
		t.Fatal(err)
	}
	steps := res.Steps
	if len(steps) != 3*10 {
		t.Fatalf("%d step records, want 30", len(steps))
	}
	first, last := mean(steps[:5]), mean(steps[len(steps)-5:])
	if last > first/4 {
		t.Errorf("batch loss went from %.3f (first 5 steps) to %.3f (last 5); want at least a 4x cut", first, last)
	}
	if res.Test == nil || res.Train == nil {
		t.Fatal("final evaluations missing")
	}
	if acc := steps[len(steps)-1].RunningAcc; acc < 0.9 {
		t.Errorf("running accuracy of the last epoch %.3f, want ≥ 0.9 (chance is 0.1)", acc)
	}
	if got := res.Test.Confusion.Total(); got != testSet.N {
		t.Errorf("confusion matrix counts %d examples, want %d", got, testSet.N)
	}
	t.Logf("loss %.3f -> %.3f; final test acc %.3f, train acc %.3f", first, last, res.Test.Accuracy, res.Train.Accuracy)
}

func mean(steps []metrics.Step) float64 {
	s := 0.0
	for _, st := range steps {
		s += st.BatchLoss
	}
	return s / float64(len(steps))
}

// TestDeterministic: the same seed gives bit-identical metrics; another seed does not.
func TestDeterministic(t *testing.T) {
	trainSet, testSet := blocks(160, 4), blocks(50, 5)
	run := func(seed uint64) *train.Result {
		o := options()
		o.Seed = seed
		res, err := train.Run(context.Background(), newModel(t, 3, seed), trainSet, testSet, o)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b, c := run(7), run(7), run(8)
	for i := range a.Steps {
		x, y := a.Steps[i], b.Steps[i]
		if x.BatchLoss != y.BatchLoss || x.RunningAcc != y.RunningAcc || !sameFloat(x.TestLoss, y.TestLoss) {
			t.Fatalf("step %d differs between identical runs: %+v vs %+v", i+1, x, y)
		}
	}
	if a.Test.Loss != b.Test.Loss {
		t.Errorf("final test loss %v vs %v for the same seed", a.Test.Loss, b.Test.Loss)
	}
	if a.Steps[0].BatchLoss == c.Steps[0].BatchLoss && a.Test.Loss == c.Test.Loss {
		t.Errorf("seeds 7 and 8 gave identical results")
	}
}

func sameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// TestRecords checks the per-step bookkeeping: Keras' running mean, and a
// test loss exactly at every TestEvery-th step, each epoch's end and the last step.
func TestRecords(t *testing.T) {
	trainSet, testSet := blocks(150, 6), blocks(30, 7) // 5 steps per epoch, the last of 22 images
	o := options()
	o.TestEvery = 3
	res, err := train.Run(context.Background(), newModel(t, 3, 2), trainSet, testSet, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 10 {
		t.Fatalf("%d records, want 10", len(res.Steps))
	}
	wantTest := map[int]bool{3: true, 5: true, 6: true, 9: true, 10: true}
	sum, seen := 0.0, 0
	for i, s := range res.Steps {
		if s.Step != i+1 || s.Epoch != 1+i/5 {
			t.Errorf("record %d is step %d epoch %d", i, s.Step, s.Epoch)
		}
		if s.HasTest() != wantTest[s.Step] {
			t.Errorf("step %d: has test loss %v, want %v", s.Step, s.HasTest(), wantTest[s.Step])
		}
		if i%5 == 0 {
			sum, seen = 0, 0
		}
		size := 32
		if i%5 == 4 {
			size = 22
		}
		sum += s.BatchLoss * float64(size)
		seen += size
		if math.Abs(s.RunningLoss-sum/float64(seen)) > 1e-6 {
			t.Errorf("step %d: running loss %v, want the size-weighted mean %v", s.Step, s.RunningLoss, sum/float64(seen))
		}
	}
	if got := res.Steps[9].TestLoss; got != res.Test.Loss {
		t.Errorf("last step's test loss %v, final evaluation %v", got, res.Test.Loss)
	}
	if res.ImagesTrained != 300 {
		t.Errorf("trained on %d images, want 300", res.ImagesTrained)
	}
}

func TestNonFiniteLossStops(t *testing.T) {
	o := options()
	o.LR = 1e30
	res, err := train.Run(context.Background(), newModel(t, 3, 1), blocks(320, 1), blocks(20, 2), o)
	if !errors.Is(err, train.ErrNonFinite) {
		t.Fatalf("err = %v, want ErrNonFinite", err)
	}
	if res == nil || len(res.Steps) == 0 || len(res.Steps) >= 20 {
		t.Fatalf("want the records before the failure, got %v", res)
	}
}

func TestInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	o := options()
	o.Epochs = 50
	o.OnProgress = func(p train.Progress) {
		if p.Done >= 16 {
			cancel()
		}
	}
	res, err := train.Run(ctx, newModel(t, 3, 1), blocks(320, 1), blocks(20, 2), o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || len(res.Steps) < 16 || len(res.Steps) > 40 {
		t.Fatalf("interrupted=%v after %d steps; want an early stop", res.Interrupted, len(res.Steps))
	}
	if res.Test != nil {
		t.Errorf("an interrupted run should not report a final evaluation")
	}
}

func TestOptionsValidate(t *testing.T) {
	bad := []func(*train.Options){
		func(o *train.Options) { o.Epochs = 0 },
		func(o *train.Options) { o.BatchSize = 0 },
		func(o *train.Options) { o.LR = 0 },
		func(o *train.Options) { o.LR = -1 },
		func(o *train.Options) { o.LR = float32(math.NaN()) },
		func(o *train.Options) { o.LR = float32(math.Inf(1)) },
		func(o *train.Options) { o.TestEvery = -1 },
		func(o *train.Options) { o.EvalBatch = 0 },
	}
	for i, f := range bad {
		o := options()
		f(&o)
		if o.Validate() == nil {
			t.Errorf("case %d: %+v accepted", i, o)
		}
	}
	if err := options().Validate(); err != nil {
		t.Errorf("good options rejected: %v", err)
	}
}

// The per-step records were once preallocated for the whole run, so a huge
// Epochs died in make before the first step (out of memory, or a panic
// near MaxInt). Now memory follows the steps trained, and a step count
// that overflows is refused.
func TestHugeEpochs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	o := options()
	o.BatchSize = 16 // one step per epoch of 16 images
	o.OnProgress = func(p train.Progress) {
		if p.Done >= 2 {
			cancel()
		}
	}
	for _, epochs := range []int{1 << (strconv.IntSize - 24), math.MaxInt / 2} { // 1<<40 on 64-bit
		o.Epochs = epochs
		res, err := train.Run(ctx, newModel(t, 3, 1), blocks(16, 1), blocks(10, 2), o)
		if err != nil || !res.Interrupted {
			t.Fatalf("Epochs %d: err %v; want a run that starts and is interrupted", epochs, err)
		}
		ctx, cancel = context.WithCancel(context.Background())
	}
	o.Epochs = math.MaxInt/2 + 1
	o.BatchSize = 8 // two steps per epoch: the total overflows
	if _, err := train.Run(ctx, newModel(t, 3, 1), blocks(16, 1), blocks(10, 2), o); err == nil || !strings.Contains(err.Error(), "more steps than") {
		t.Errorf("Epochs %d of 2 steps: err %v, want an overflow error", o.Epochs, err)
	}
	cancel()
}

// A display must be able to count every step as it happens and say why the
// count stops: each step is reported once, in order, with the latest record
// read back at most one read-back window behind, and every evaluation pass is
// announced before it runs.
func TestProgressEveryStep(t *testing.T) {
	o := options() // 2 epochs of 20 steps (640 images, batch 32), a test pass every 5 steps
	var counted []int
	var stages []string
	o.OnProgress = func(p train.Progress) {
		if p.Stage != "" {
			if !p.Evaluating {
				t.Errorf("stage %q announced without Evaluating", p.Stage)
			}
			stages = append(stages, fmt.Sprintf("%s@%d", p.Stage, p.Done))
			return
		}
		if n := len(counted); n == 0 || counted[n-1] != p.Done {
			counted = append(counted, p.Done)
		}
		if p.Last.Step > p.Done || (p.Done > 16 && p.Last.Step < p.Done-16) {
			t.Errorf("at step %d the record shown is of step %d", p.Done, p.Last.Step)
		}
		if p.Last.Step == 0 && !math.IsNaN(p.Last.RunningLoss) {
			t.Errorf("step %d: before the first read-back the metrics should be NaN, got %+v", p.Done, p.Last)
		}
	}
	if _, err := train.Run(context.Background(), newModel(t, 3, 1), blocks(640, 1), blocks(50, 2), o); err != nil {
		t.Fatal(err)
	}
	for i, d := range counted {
		if d != i+1 {
			t.Fatalf("steps reported %v, want 1, 2, ..., 40 in order", counted)
		}
	}
	if len(counted) != 40 {
		t.Errorf("%d steps reported, want 40", len(counted))
	}
	want := []string{}
	for s := 5; s < 40; s += 5 {
		want = append(want, fmt.Sprintf("%s@%d", train.StageTest, s))
	}
	want = append(want, train.StageFinalTest+"@40", train.StageFinalTrain+"@40")
	if fmt.Sprint(stages) != fmt.Sprint(want) {
		t.Errorf("stages announced %v, want %v", stages, want)
	}
}

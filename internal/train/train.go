// Package train runs the training loop: shuffled mini-batches, Adam steps,
// per-step metrics, periodic test evaluation and the final full-set evaluation.
package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/mnistgpu/mnistgpu/internal/metrics"
	"github.com/mnistgpu/mnistgpu/internal/mnist"
	"github.com/mnistgpu/mnistgpu/internal/model"
)

// Options are the knobs of a run.
type Options struct {
	Epochs    int
	BatchSize int
	LR        float32
	Seed      uint64
	// TestEvery evaluates the whole test set every TestEvery steps (0: only at
	// the end of each epoch).
	TestEvery int
	EvalBatch int
	// SkipTrainEval leaves out the final inference pass over the training set.
	SkipTrainEval bool
	// Resume, if set, continues the run it describes (the model already
	// holds its weights and optimizer state) instead of starting one.
	Resume *State
	// CheckpointEvery calls OnCheckpoint every CheckpointEvery steps (0: never).
	CheckpointEvery int
	OnCheckpoint    func(st *State) error
	// PreciseBN, when > 0, recomputes the batch norms' moving statistics
	// over up to that many full training batches after the Keras-style
	// final test pass, then evaluates again (Result.PreciseTest). The model
	// keeps the precise statistics (checkpoint, final training-set pass).
	PreciseBN int
	// OnProgress, if set, is called after every step (so a display can keep
	// a steady count and rate), whenever new step records are read back, and
	// before each evaluation pass (with Stage set, so it can say why the
	// count stops for a while).
	OnProgress func(p Progress)
}

// Progress is what the loop knows after some steps.
type Progress struct {
	Done, Total int           // steps
	Last        metrics.Step  // latest record read back: up to 16 steps behind Done; NaN metrics before the first
	Elapsed     time.Duration // training and periodic test passes so far
	Evaluating  bool          // an evaluation pass is about to run; Stage says which
	Stage       string        // "" while training, else one of the Stage constants
}

// The evaluation passes a Progress can announce.
const (
	StageTest       = "test pass"
	StageFinalTest  = "final test pass"
	StageFinalTrain = "final pass over the training set"
	StagePreciseBN  = "precise BN: recomputing the batch-norm statistics"
)

// Result is everything a run measured. After an interruption or a failure
// it holds what was measured up to that point.
type Result struct {
	Steps []metrics.Step
	// State is where the loop stood when it returned: a run stopped early
	// continues from it. Nil once precise BN has changed the statistics.
	State *State
	Test  *Evaluation // final, inference mode; nil if not reached
	Train *Evaluation // final pass over the training set; nil if skipped or not reached
	// PreciseTest is the final test pass after precise BN over
	// PreciseBNBatches training batches; nil without Options.PreciseBN.
	PreciseTest      *Evaluation
	PreciseBNBatches int
	Interrupted      bool

	Total, Training, TestEval, FinalEval time.Duration
	ImagesTrained                        int
}

// ImagesPerSecond is the training throughput (training time only).
func (r *Result) ImagesPerSecond() float64 {
	if r.Training <= 0 {
		return 0
	}
	return float64(r.ImagesTrained) / r.Training.Seconds()
}

// State is what the loop needs, beside the model's weights and optimizer
// state, to continue a run exactly as if it had not stopped: the position,
// the shuffle that regenerates the current epoch's order, the epoch's
// running sums (Keras' running loss and accuracy) and the records so far.
type State struct {
	Step     int     `json:"step"`     // steps done
	Epoch    int     `json:"epoch"`    // the epoch in progress, 1-based
	Offset   int     `json:"offset"`   // images of this epoch already trained
	Shuffler []byte  `json:"shuffler"` // the shuffle's generator before this epoch's order was drawn
	LossSum  float64 `json:"loss_sum"`
	Correct  float64 `json:"correct"`
	Seen     int     `json:"seen"`
	// TestPending: the periodic test pass after Step was stopped before
	// its end; it runs first on resuming.
	TestPending bool           `json:"test_pending,omitempty"`
	Steps       []metrics.Step `json:"-"`
}

// ErrNonFinite reports a loss that became NaN or infinite.
var ErrNonFinite = errors.New("loss is not finite")

// flushWindow is how many steps' losses wait on the backend before being
// read back: one read per window instead of a host sync per step.
const flushWindow = 16

// Validate checks the options before anything is allocated.
func (o Options) Validate() error {
	switch {
	case o.Epochs < 1:
		return fmt.Errorf("epochs %d: must be ≥ 1", o.Epochs)
	case o.BatchSize < 1:
		return fmt.Errorf("batch size %d: must be ≥ 1", o.BatchSize)
	case !(o.LR > 0) || math.IsInf(float64(o.LR), 0):
		return fmt.Errorf("learning rate %g: must be a finite number > 0", o.LR)
	case o.TestEvery < 0:
		return fmt.Errorf("test-every %d: must be ≥ 0 (0 = end of each epoch only)", o.TestEvery)
	case o.EvalBatch < 1:
		return fmt.Errorf("eval batch %d: must be ≥ 1", o.EvalBatch)
	case o.PreciseBN < 0:
		return fmt.Errorf("precise BN over %d batches: must be ≥ 0 (0 = off)", o.PreciseBN)
	}
	return nil
}

// Run trains m on trainSet and evaluates on testSet. Cancelling ctx stops
// after the current step and returns the partial result with Interrupted set
// and a nil error.
func Run(ctx context.Context, m *model.Model, trainSet, testSet *mnist.Set, o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if perEpoch := (trainSet.N + o.BatchSize - 1) / o.BatchSize; perEpoch > 0 && o.Epochs > math.MaxInt/perEpoch {
		return nil, fmt.Errorf("%d epochs of %d steps: more steps than an int counts", o.Epochs, perEpoch)
	}
	start := time.Now()
	res := &Result{}
	defer func() { res.Total = time.Since(start) }()

	b := m.Backend()
	trainData, err := b.UploadDataset(trainSet.Images, trainSet.Labels, trainSet.N, trainSet.Rows, trainSet.Cols)
	if err != nil {
		return nil, err
	}
	defer trainData.Close()
	testData, err := b.UploadDataset(testSet.Images, testSet.Labels, testSet.N, testSet.Rows, testSet.Cols)
	if err != nil {
		return nil, err
	}
	defer testData.Close()

	n := trainSet.N
	batchSize := min(o.BatchSize, n)
	full, err := m.NewBatch(batchSize, true)
	if err != nil {
		return nil, err
	}
	tail := full
	if rem := n % batchSize; rem != 0 {
		if tail, err = m.NewBatch(rem, true); err != nil {
			return nil, err
		}
	}
	eval, err := NewEvaluator(m, o.EvalBatch, max(n, testSet.N))
	if err != nil {
		return nil, err
	}
	perm := b.AllocInt32(n)
	stats := b.Alloc(2 * flushWindow)
	host := make([]float32, 2*flushWindow)
	order := make([]int32, n)

	stepsPerEpoch := (n + batchSize - 1) / batchSize
	total := stepsPerEpoch * o.Epochs
	shuffle := NewShuffler(o.Seed)
	step, firstEpoch, firstOffset := 0, 1, 0
	// One epoch's records up front; a long run grows the slice as it goes,
	// so memory follows the steps actually trained, not --epochs.
	res.Steps = make([]metrics.Step, 0, stepsPerEpoch)
	var lossSum, correct float64
	seen := 0
	testPending := false
	if r := o.Resume; r != nil {
		if r.Step > total || r.Epoch < 1 || r.Epoch > o.Epochs || r.Offset < 0 || r.Offset > n || len(r.Steps) != r.Step {
			return nil, fmt.Errorf("resume: step %d, epoch %d, offset %d and %d records do not fit a run of %d epochs of %d images", r.Step, r.Epoch, r.Offset, len(r.Steps), o.Epochs, n)
		}
		if err := shuffle.Restore(r.Shuffler); err != nil {
			return nil, fmt.Errorf("resume: shuffle state: %w", err)
		}
		step, firstEpoch, firstOffset = r.Step, r.Epoch, r.Offset
		lossSum, correct, seen, testPending = r.LossSum, r.Correct, r.Seen, r.TestPending
		res.Steps = append(res.Steps, r.Steps...)
	}
	var epochShuffle []byte // the generator's state before this epoch's order
	offset := firstOffset
	epoch := firstEpoch
	// snapshot is the loop's state between two steps.
	snapshot := func() *State {
		// Past an epoch's end (or the last epoch's) the position is that end.
		epoch, offset := epoch, min(offset, n)
		if epoch > o.Epochs {
			epoch, offset = o.Epochs, n
		}
		return &State{Step: step, Epoch: epoch, Offset: offset, Shuffler: epochShuffle,
			LossSum: lossSum, Correct: correct, Seen: seen, TestPending: testPending, Steps: res.Steps}
	}
	// Once precise BN has replaced the moving statistics, the weights are
	// no longer those the loop left: a run stopped then cannot continue.
	preciseApplied := false
	defer func() {
		if !preciseApplied {
			res.State = snapshot()
		}
	}()
	pending := make([]int, 0, flushWindow) // batch sizes of steps whose stats are not read yet

	var trainStart time.Time
	loop := func() error {
		for epoch = firstEpoch; epoch <= o.Epochs; epoch++ {
			var err error
			if epochShuffle, err = shuffle.State(); err != nil {
				return err
			}
			shuffle.Next(order)
			if err := b.UploadInt32(perm, order); err != nil {
				return err
			}
			if epoch > firstEpoch {
				lossSum, correct, seen, offset = 0, 0, 0, 0
			}
			flush := func() error {
				if len(pending) == 0 {
					return nil
				}
				if err := b.Download(host, stats); err != nil {
					return err
				}
				if err := b.Sync(); err != nil {
					return err
				}
				b.Fill(stats, 0)
				first := step - len(pending) + 1
				for i, size := range pending {
					loss, hits := float64(host[2*i]), float64(host[2*i+1])
					if math.IsNaN(loss) || math.IsInf(loss, 0) {
						return fmt.Errorf("%w at step %d (epoch %d): try a lower --lr", ErrNonFinite, first+i, epoch)
					}
					lossSum += loss
					correct += hits
					seen += size
					res.Steps = append(res.Steps, metrics.Step{
						Step: first + i, Epoch: epoch,
						BatchLoss:   loss / float64(size),
						RunningLoss: lossSum / float64(seen),
						RunningAcc:  correct / float64(seen),
						TestLoss:    math.NaN(),
						TestAcc:     math.NaN(),
					})
				}
				pending = pending[:0]
				if o.OnProgress != nil {
					o.OnProgress(Progress{Done: step, Total: total, Last: res.Steps[len(res.Steps)-1], Elapsed: res.Training + res.TestEval})
				}
				return nil
			}
			testPass := func() error {
				if o.OnProgress != nil {
					o.OnProgress(Progress{Done: step, Total: total, Last: res.Steps[len(res.Steps)-1], Elapsed: res.Training + res.TestEval, Evaluating: true, Stage: StageTest})
				}
				testPending = true
				t := time.Now()
				ev, err := eval.Run(ctx, testData, testSet.N, false)
				res.TestEval += time.Since(t)
				if errors.Is(err, context.Canceled) {
					res.Interrupted = true
					return nil
				}
				if err != nil {
					return fmt.Errorf("test evaluation after step %d: %w", step, err)
				}
				testPending = false
				res.Steps[len(res.Steps)-1].TestLoss = ev.Loss
				res.Steps[len(res.Steps)-1].TestAcc = ev.Accuracy
				if o.OnProgress != nil {
					o.OnProgress(Progress{Done: step, Total: total, Last: res.Steps[len(res.Steps)-1], Elapsed: res.Training + res.TestEval})
				}
				return nil
			}
			if testPending { // resumed where a test pass was stopped
				if err := testPass(); err != nil || res.Interrupted {
					return err
				}
			}
			for ; offset < n; offset += batchSize {
				if ctx.Err() != nil {
					res.Interrupted = true
					return flush()
				}
				trainStart = time.Now()
				k := full
				if n-offset < batchSize {
					k = tail
				}
				b.GatherBatch(k.X, k.Labels, trainData, perm, offset)
				m.TrainStep(k, stats, len(pending), o.LR)
				step++
				pending = append(pending, k.N)
				res.ImagesTrained += k.N
				lastOfEpoch := offset+batchSize >= n
				// The final step's test loss comes from the final evaluation.
				testNow := ((o.TestEvery > 0 && step%o.TestEvery == 0) || lastOfEpoch) && step < total
				if len(pending) == flushWindow || testNow || lastOfEpoch {
					if err := flush(); err != nil {
						res.Training += time.Since(trainStart)
						return err
					}
				}
				res.Training += time.Since(trainStart)
				if o.OnProgress != nil && len(pending) > 0 {
					// A step whose record is still on the backend: count it.
					last := metrics.Step{Epoch: epoch, BatchLoss: math.NaN(), RunningLoss: math.NaN(), RunningAcc: math.NaN(), TestLoss: math.NaN(), TestAcc: math.NaN()}
					if len(res.Steps) > 0 {
						last = res.Steps[len(res.Steps)-1]
					}
					o.OnProgress(Progress{Done: step, Total: total, Last: last, Elapsed: res.Training + res.TestEval})
				}
				if testNow {
					if err := testPass(); err != nil || res.Interrupted {
						offset += k.N
						return err
					}
				}
				if o.CheckpointEvery > 0 && step%o.CheckpointEvery == 0 && o.OnCheckpoint != nil {
					if err := flush(); err != nil {
						return err
					}
					offset += k.N
					err := o.OnCheckpoint(snapshot())
					offset -= k.N
					if err != nil {
						return fmt.Errorf("checkpoint after step %d: %w", step, err)
					}
				}
			}
		}
		return nil
	}
	if err := loop(); err != nil {
		return res, err
	}
	if res.Interrupted {
		return res, nil
	}
	t := time.Now()
	defer func() { res.FinalEval += time.Since(t) }()
	announce := func(stage string) {
		if o.OnProgress != nil {
			o.OnProgress(Progress{Done: step, Total: total, Last: res.Steps[len(res.Steps)-1], Elapsed: res.Training + res.TestEval, Evaluating: true, Stage: stage})
		}
	}
	announce(StageFinalTest)
	if res.Test, err = eval.Run(ctx, testData, testSet.N, true); err != nil {
		return finalErr(res, "final test evaluation", err)
	}
	if last := &res.Steps[len(res.Steps)-1]; last.Step == total {
		last.TestLoss, last.TestAcc = res.Test.Loss, res.Test.Accuracy
	}
	if o.PreciseBN > 0 {
		announce(StagePreciseBN)
		// The last epoch's order is still in perm: its first full batches,
		// never the partial tail, whose statistics are noisier.
		res.PreciseBNBatches = min(o.PreciseBN, n/batchSize)
		fill := func(i int) { b.GatherBatch(full.X, full.Labels, trainData, perm, i*batchSize) }
		preciseApplied = true
		if err := m.PreciseBatchNorm(full, res.PreciseBNBatches, fill); err != nil {
			return res, fmt.Errorf("precise BN: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return finalErr(res, "precise BN", err)
		}
		announce(StageFinalTest)
		if res.PreciseTest, err = eval.Run(ctx, testData, testSet.N, true); err != nil {
			return finalErr(res, "final test evaluation after precise BN", err)
		}
	}
	if !o.SkipTrainEval {
		announce(StageFinalTrain)
		if res.Train, err = eval.Run(ctx, trainData, n, true); err != nil {
			return finalErr(res, "final training-set evaluation", err)
		}
	}
	return res, nil
}

// finalErr turns a cancelled final pass into an interruption, not a failure.
func finalErr(res *Result, what string, err error) (*Result, error) {
	if errors.Is(err, context.Canceled) {
		res.Interrupted = true
		return res, nil
	}
	return res, fmt.Errorf("%s: %w", what, err)
}

// Shuffler draws the per-epoch orders of the training set: the same seed
// gives the same sequence of permutations, on every backend.
type Shuffler struct {
	src *rand.PCG
	rng *rand.Rand
}

func NewShuffler(seed uint64) *Shuffler {
	src := rand.NewPCG(seed, 0x73687566666c65)
	return &Shuffler{src, rand.New(src)}
}

// State is the generator's state: Restore makes the next orders those that
// followed it.
func (s *Shuffler) State() ([]byte, error) { return s.src.MarshalBinary() }

// Restore returns the generator to a State.
func (s *Shuffler) Restore(state []byte) error { return s.src.UnmarshalBinary(state) }

// Next fills order with the next epoch's permutation of 0..len(order)-1.
func (s *Shuffler) Next(order []int32) {
	for i := range order {
		order[i] = int32(i)
	}
	s.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mnistgpu/mnistgpu/internal/backend"
	"github.com/mnistgpu/mnistgpu/internal/mnist"
	"github.com/mnistgpu/mnistgpu/internal/model"
	"github.com/mnistgpu/mnistgpu/internal/train"
)

// Evaluation defaults per backend. On the CPU one pass over the 10,000 test
// images costs about as much as 30 training steps of batch 64, so testing
// every 200 steps spends about a tenth of the run on it; the GPU
// evaluates in large batches and can afford the seed's every-step curve.
var (
	defaultTestEvery = map[string]int{"cpu": 200, "cuda": 1}
	defaultEvalBatch = map[string]int{"cpu": 500, "cuda": 10000}
)

// TrainCmd trains the model.
type TrainCmd struct {
	Kernel int `short:"k" default:"3" placeholder:"N" help:"Kernel size of the ResNet block's convolutions: odd, e.g. 3 or 5."`
	trainFlags
	Seed            uint64 `short:"s" default:"1" placeholder:"N" help:"Seed for the initial weights and the per-epoch shuffles."`
	Out             string `short:"o" type:"path" placeholder:"DIR" help:"Output folder (default: a new runs/<timestamp>-k<K>-<device>). An existing one must be empty."`
	Overwrite       bool   `help:"Replace an --out folder that holds a previous run's outputs (whole, once this run has written; a run that fails first leaves it)."`
	Resume          string `type:"path" placeholder:"DIR|FILE" help:"Continue a stopped run (its folder or its model.ckpt) in its own folder, with the same flags it was started with; ends bit-identical to the run left alone on the same device."`
	CheckpointEvery int    `name:"checkpoint-every" placeholder:"N" help:"Also write model.ckpt, resumable, every N steps (atomically; the last one kept). 0: only at the end or when stopped."`
	dataDirFlag

	resume *resumed // the run --resume continues
}

// trainFlags are the settings of one training run that bench passes through
// to every run of its grid unchanged.
type trainFlags struct {
	Device        string  `short:"d" default:"auto" enum:"auto,cpu,cuda" placeholder:"NAME" help:"Backend: auto (cuda when usable, else cpu), cpu or cuda."`
	Epochs        int     `short:"e" default:"1" placeholder:"N" help:"Passes over the training set."`
	BatchSize     int     `short:"b" name:"batch-size" default:"64" placeholder:"N" help:"Training mini-batch size."`
	LR            float64 `name:"lr" default:"0.001" placeholder:"RATE" help:"Adam learning rate."`
	TestEvery     string  `name:"test-every" default:"auto" placeholder:"N" help:"Evaluate the test loss over the whole test set every N mini-batches; 0: at the end of each epoch only; auto: 1 on cuda, 200 on cpu. On the CPU one test pass costs about 30 training steps: 200 spends ~10% of the run on it, 1 makes a run ~30x slower."`
	EvalBatch     string  `name:"eval-batch" default:"auto" placeholder:"N" help:"Batch size for evaluation passes; auto: 500 on cpu (about 200 MB), 10000 on cuda."`
	LimitTrain    int     `name:"limit-train" placeholder:"N" help:"Use only the first N training images (default: all 60,000). The test accuracy means little before about 600 steps, as batch norm's moving averages lag (the README's quick run: --limit-train 20000 --batch-size 32)."`
	LimitTest     int     `name:"limit-test" placeholder:"N" help:"Use only the first N test images (default: all 10,000)."`
	SkipTrainEval bool    `name:"skip-train-eval" help:"Skip the final inference pass over the training set (train_loss/train_acc are then absent)."`
	PreciseBN     int     `name:"precise-bn" placeholder:"N" help:"After training, recompute the batch norms' statistics over N training batches with the weights frozen (precise BN) and report the test result both ways; the checkpoint keeps the precise statistics (default: off, as Keras)."`
}

func (c *TrainCmd) Help() string {
	return `Trains the seed's MNIST CNN with a ResNet block (Keras semantics: Glorot init, BN momentum 0.99,
eps 1e-3, Adam 1e-3), fetching and verifying MNIST first if needed. Writes metrics.csv,
class_accuracy.csv, confusion_matrix.csv, loss_curves.png, class_accuracy.png, summary.json and
model.ckpt into --out. Ctrl-C stops after the current step and still writes what was measured.`
}

// Validate checks every flag before any work starts.
func (c *TrainCmd) Validate() error {
	if err := (model.Config{Kernel: c.Kernel}).Validate(); err != nil {
		return fmt.Errorf("--kernel: %w", err)
	}
	if c.Resume != "" && (c.Out != "" || c.Overwrite) {
		return fmt.Errorf("--resume continues in the run's own folder; --out and --overwrite do not go with it")
	}
	if c.CheckpointEvery < 0 {
		return fmt.Errorf("--checkpoint-every %d: must be ≥ 0 (0 = only at the end)", c.CheckpointEvery)
	}
	return c.trainFlags.check()
}

// maxEpochs bounds --epochs: every step's record stays in memory for the
// reports (48 bytes each, 938 steps per MNIST epoch at batch 64), so 10,000
// epochs already hold about 450 MB of them, and take weeks on a GPU.
const maxEpochs = 10_000

// check validates the shared flags; bench calls it too (it is not named
// Validate so that kong's hooks do not run it a second time).
func (c *trainFlags) check() error {
	if c.Epochs < 1 || c.Epochs > maxEpochs {
		return fmt.Errorf("--epochs %d: must be 1 to %d", c.Epochs, maxEpochs)
	}
	if c.BatchSize < 1 {
		return fmt.Errorf("--batch-size %d: must be ≥ 1", c.BatchSize)
	}
	// Training runs in float32: a rate that float32 rounds to 0 or to
	// infinity (1e-50, 1e39) is refused here, not after the data is loaded.
	if lr := float32(c.LR); !(lr > 0) || math.IsInf(float64(lr), 0) {
		return fmt.Errorf("--lr %g: must be a finite number > 0 in float32 (about 1.4e-45 to 3.4e38)", c.LR)
	}
	if c.PreciseBN < 0 {
		return fmt.Errorf("--precise-bn %d: must be ≥ 0 (0 = off)", c.PreciseBN)
	}
	if c.LimitTrain < 0 || c.LimitTest < 0 {
		return fmt.Errorf("--limit-train/--limit-test: must be ≥ 0 (0 = all)")
	}
	if _, err := autoInt("--test-every", c.TestEvery, 0, 0); err != nil {
		return err
	}
	if _, err := autoInt("--eval-batch", c.EvalBatch, 1, 1); err != nil {
		return err
	}
	return nil
}

// autoInt parses a flag that is "auto" or an integer ≥ minimum.
func autoInt(flag, value string, auto, minimum int) (int, error) {
	if value == "auto" {
		return auto, nil
	}
	n, err := strconv.Atoi(value)
	if err != nil || n < minimum {
		return 0, fmt.Errorf("%s %q: must be auto or an integer ≥ %d", flag, value, minimum)
	}
	return n, nil
}

func (c *TrainCmd) Run(ctx context.Context) error {
	// The backend first: a missing GPU should not wait for a download.
	b, err := openBackend(c.Device)
	if err != nil {
		return err
	}
	defer b.Close()
	// The folder before the data: a download is wasted on a run that
	// could not save its results.
	var dir outDir
	if c.Resume != "" {
		if c.resume, err = c.openResume(); err != nil {
			return err
		}
		dir, err = prepareResume(filepath.Dir(c.resume.path))
	} else {
		dir, err = prepareOut(c.Out, defaultRunName(time.Now(), fmt.Sprintf("k%d-%s", c.Kernel, b.Name())), c.Overwrite)
	}
	if err != nil {
		return err
	}
	defer dir.release()
	c.Out = dir.path
	done := showStatus(os.Stderr, "loading MNIST (reading and checking the four files)…")
	trainSet, testSet, err := loadData(ctx, c.dataDirFlag)
	done()
	if err != nil {
		return err
	}
	_, err = c.run(ctx, b, trainSet, testSet, func(epochs, perEpoch int, out *os.File) *progressView {
		return newProgressView(epochs, perEpoch, out, nil)
	}, os.Stdout)
	return err
}

// run trains on b with the command's settings, writes the run's folder
// (c.Out, prepared by the caller) and prints its results to results (stdout
// for train; for a bench grid, whose results are the comparison, stderr):
// the whole of `train` after the backend and the data, and each run of a
// bench grid. Progress goes to stderr. The record is nil when nothing was
// measured, and then nothing is written.
// A Ctrl-C that stopped the run returns the record and interrupted{}.
func (c *TrainCmd) run(ctx context.Context, b backend.Backend, trainSet, testSet *mnist.Set,
	view newView, results io.Writer) (*runRecord, error) {
	trainSet, testSet = trainSet.Limit(c.LimitTrain), testSet.Limit(c.LimitTest)
	testEvery, _ := autoInt("--test-every", c.TestEvery, defaultTestEvery[b.Name()], 0)
	evalBatch, _ := autoInt("--eval-batch", c.EvalBatch, defaultEvalBatch[b.Name()], 1)

	spec, err := model.Declare(model.Config{Kernel: c.Kernel})
	if err != nil {
		return nil, err
	}
	m, err := model.New(b, spec)
	if err != nil {
		return nil, err
	}
	var resume *train.State
	if c.resume != nil {
		resume, err = c.resume.restore(m)
	} else {
		err = m.Init(c.Seed)
	}
	if err != nil {
		return nil, err
	}
	out := c.Out
	total, _, _ := spec.Counts()
	fmt.Fprintf(os.Stderr, "training k=%d on %s (%s): %d train / %d test images, batch %d, %d epoch(s), %s params, test loss every %s\n",
		c.Kernel, b.Name(), b.Device(), trainSet.N, testSet.N, c.BatchSize, c.Epochs, model.Thousands(total), everyText(testEvery))

	// As train.Run batches: a batch larger than the set is the whole set.
	batch := max(1, min(c.BatchSize, trainSet.N))
	perEpoch := (trainSet.N + batch - 1) / batch
	progress := view(c.Epochs, perEpoch, os.Stderr)
	opts := train.Options{
		Epochs: c.Epochs, BatchSize: c.BatchSize, LR: float32(c.LR), Seed: c.Seed,
		TestEvery: testEvery, EvalBatch: evalBatch, SkipTrainEval: c.SkipTrainEval, PreciseBN: c.PreciseBN,
		OnProgress: progress.update, Resume: resume, CheckpointEvery: c.CheckpointEvery,
		OnCheckpoint: func(st *train.State) error {
			meta := map[string]any{"device": b.Name(), "steps": m.Steps(), "seed": c.Seed, "epochs": c.Epochs, "status": "in progress"}
			return c.writeResumable(filepath.Join(out, "model.ckpt"), m, st, meta)
		},
	}
	if resume != nil {
		fmt.Fprintf(os.Stderr, "resuming %s at step %d of %d (epoch %d)\n", c.resume.path, resume.Step, perEpoch*c.Epochs, resume.Epoch)
	}
	res, runErr := train.Run(ctx, m, trainSet, testSet, opts)
	progress.finish(res)
	if res == nil {
		return nil, runErr
	}
	if res.Interrupted && len(res.Steps) == 0 && runErr == nil {
		// Stopped before the first step: untrained weights are no result.
		return nil, interrupted{early: true}
	}
	run := &runRecord{cmd: c, device: b, spec: spec, model: m, res: res, testEvery: testEvery, evalBatch: evalBatch,
		trainN: trainSet.N, testN: testSet.N, out: out, runErr: runErr}
	// Every file that can be written is, and the results reach the terminal
	// even when some could not.
	writeErr := run.write(ctx)
	run.print(results, writeErr)
	if note := bnLagNote(res, c.PreciseBN > 0); note != "" {
		fmt.Fprintln(os.Stderr, note)
	}
	if writeErr != nil {
		return run, errors.Join(runErr, writeErr)
	}
	if runErr != nil {
		return run, runErr
	}
	if res.Interrupted {
		return run, interrupted{}
	}
	return run, nil
}

func everyText(n int) string {
	if n == 0 {
		return "epoch"
	}
	if n == 1 {
		return "step"
	}
	return fmt.Sprintf("%d steps", n)
}

// interrupted is the error of a run stopped by Ctrl-C after saving its
// results, or, with early set, before it had measured anything.
type interrupted struct{ early bool }

func (e interrupted) Error() string {
	if e.early {
		return "interrupted before the first training step: nothing was measured, nothing written"
	}
	return "interrupted: stopped early; the results measured so far were written"
}
func (interrupted) ExitCode() int { return 130 }

// openBackend starts the named backend and says which one `auto` chose.
func openBackend(device string) (backend.Backend, error) {
	done := showStatus(os.Stderr, "starting the backend (--device "+device+"; cuda compiles its kernels on first use)…")
	b, note, err := backend.Open(device)
	done()
	if err != nil {
		return nil, err
	}
	if note != "" {
		fmt.Fprintln(os.Stderr, note)
	}
	return b, nil
}

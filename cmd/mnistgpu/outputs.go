package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"time"

	"github.com/mnistgpu/mnistgpu/internal/atomicfile"
	"github.com/mnistgpu/mnistgpu/internal/backend"
	"github.com/mnistgpu/mnistgpu/internal/checkpoint"
	"github.com/mnistgpu/mnistgpu/internal/model"
	"github.com/mnistgpu/mnistgpu/internal/report"
	"github.com/mnistgpu/mnistgpu/internal/train"
)

// runRecord is a finished (or stopped) training run and where it goes.
type runRecord struct {
	cmd                  *TrainCmd
	device               backend.Backend
	spec                 *model.Spec
	model                *model.Model
	res                  *train.Result
	testEvery, evalBatch int
	trainN, testN        int // images in the (possibly limited) sets
	out                  string
	runErr               error
}

// summary is summary.json. Pointers are null where a value was not measured.
type summary struct {
	Kernel         int        `json:"kernel"`
	Device         string     `json:"device"`
	DeviceName     string     `json:"device_name"`
	Epochs         int        `json:"epochs"`
	BatchSize      int        `json:"batch_size"`
	LR             float64    `json:"lr"`
	Seed           uint64     `json:"seed"`
	TestEvery      int        `json:"test_every"`
	EvalBatch      int        `json:"eval_batch"`
	TrainImages    int        `json:"train_images"`
	TestImages     int        `json:"test_images"`
	ParamsTotal    int        `json:"params_total"`
	ParamsTrain    int        `json:"params_trainable"`
	ParamsNonTrain int        `json:"params_non_trainable"`
	Steps          int        `json:"steps"`
	Status         string     `json:"status"` // completed, interrupted, failed: ...
	TestLoss       *float64   `json:"test_loss"`
	TestAcc        *float64   `json:"test_acc"`
	TrainLoss      *float64   `json:"train_loss"`
	TrainAcc       *float64   `json:"train_acc"`
	PerClassAcc    []*float64 `json:"per_class_acc"`
	// Precise BN (--precise-bn): the batches asked for and used, and the
	// test result with the recomputed statistics; absent when off.
	PreciseBN        int      `json:"precise_bn,omitempty"`
	PreciseBNBatches int      `json:"precise_bn_batches,omitempty"`
	PreciseTestLoss  *float64 `json:"precise_bn_test_loss,omitempty"`
	PreciseTestAcc   *float64 `json:"precise_bn_test_acc,omitempty"`
	TotalS           float64  `json:"total_s"`
	TrainS           float64  `json:"train_s"`
	EvalS            float64  `json:"eval_s"`
	TestEvalS        float64  `json:"test_eval_s"`
	FinalEvalS       float64  `json:"final_eval_s"`
	EvalShare        float64  `json:"eval_share"`      // all evaluation / total
	TestEvalShare    float64  `json:"test_eval_share"` // the periodic test passes (--test-every) / total
	ImagesPerS       float64  `json:"images_per_s"`
	Finished         string   `json:"finished"`
	GoVersion        string   `json:"go_version"`
	Threads          int      `json:"threads"`
	// Files lists the outputs beside summary.json that were written whole;
	// WriteErrors says why each other output is missing.
	Files       []string          `json:"files"`
	WriteErrors map[string]string `json:"write_errors,omitempty"`
}

func (r *runRecord) summary() summary {
	total, trainable, nonTrainable := r.spec.Counts()
	res := r.res
	s := summary{
		Kernel: r.cmd.Kernel, Device: r.device.Name(), DeviceName: r.device.Device(),
		Epochs: r.cmd.Epochs, BatchSize: r.cmd.BatchSize, LR: r.cmd.LR, Seed: r.cmd.Seed,
		TestEvery: r.testEvery, EvalBatch: r.evalBatch, TrainImages: r.trainN, TestImages: r.testN,
		ParamsTotal: total, ParamsTrain: trainable, ParamsNonTrain: nonTrainable,
		Steps: len(res.Steps), Status: "completed",
		TotalS: res.Total.Seconds(), TrainS: res.Training.Seconds(),
		EvalS: (res.TestEval + res.FinalEval).Seconds(), TestEvalS: res.TestEval.Seconds(), FinalEvalS: res.FinalEval.Seconds(),
		ImagesPerS: res.ImagesPerSecond(), Finished: time.Now().Format(time.RFC3339),
		GoVersion: runtime.Version(), Threads: runtime.GOMAXPROCS(0),
		PerClassAcc: []*float64{},
	}
	if s.TotalS > 0 {
		s.EvalShare = s.EvalS / s.TotalS
		s.TestEvalShare = s.TestEvalS / s.TotalS
	}
	switch {
	case r.runErr != nil:
		s.Status = "failed: " + r.runErr.Error()
	case res.Interrupted:
		s.Status = "interrupted"
	}
	if res.Test != nil {
		s.TestLoss, s.TestAcc = num(res.Test.Loss), num(res.Test.Accuracy)
		s.PerClassAcc = perClass(&res.Test.Confusion)
	}
	if res.Train != nil {
		s.TrainLoss, s.TrainAcc = num(res.Train.Loss), num(res.Train.Accuracy)
	}
	s.PreciseBN, s.PreciseBNBatches = r.cmd.PreciseBN, res.PreciseBNBatches
	if res.PreciseTest != nil {
		s.PreciseTestLoss, s.PreciseTestAcc = num(res.PreciseTest.Loss), num(res.PreciseTest.Accuracy)
	}
	return s
}

// num is nil for NaN/Inf, which JSON cannot hold.
func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// write saves every output that the run measured, each file atomically,
// the checkpoint first (the costliest to lose) and summary.json last, so
// that it can list the files that are really there. A failed write does not
// stop the others; the failures are joined in the error. A failed run keeps
// its metrics and summary but no checkpoint of broken weights.
func (r *runRecord) write(ctx context.Context) error {
	defer holdInterrupts(ctx)()
	path := func(name string) string { return filepath.Join(r.out, name) }
	title := fmt.Sprintf("k=%d, %s, batch %d", r.cmd.Kernel, r.device.Name(), r.cmd.BatchSize)
	res := r.res
	s := r.summary()
	type file struct {
		name  string
		write func(path string) error
	}
	var files []file
	if r.runErr == nil {
		files = append(files, file{"model.ckpt", func(p string) error {
			values, err := r.model.Values()
			if err != nil {
				return err
			}
			meta := map[string]any{"device": s.Device, "steps": r.model.Steps(), "seed": s.Seed, "epochs": s.Epochs, "status": s.Status}
			if s.TestAcc != nil {
				meta["test_acc"] = *s.TestAcc
			}
			if s.PreciseBNBatches > 0 {
				// The statistics saved are the precise ones.
				meta["precise_bn_batches"] = s.PreciseBNBatches
				if s.PreciseTestAcc != nil {
					meta["test_acc"] = *s.PreciseTestAcc
				}
			}
			if res.Interrupted && res.State != nil {
				// Stopped: keep what `train --resume` needs to continue.
				return r.cmd.writeResumable(p, r.model, res.State, meta)
			}
			return atomicfile.Write(p, func(w io.Writer) error { return checkpoint.Write(w, r.spec, values, meta) })
		}})
	}
	if len(res.Steps) > 0 {
		files = append(files,
			file{"metrics.csv", func(p string) error { return report.WriteMetricsCSV(p, res.Steps) }},
			file{"loss_curves.png", func(p string) error {
				return report.PlotLossCurves(p, res.Steps, "Loss per mini-batch — "+title)
			}})
	}
	if res.Test != nil {
		acc := res.Test.Confusion.ClassAccuracy()
		files = append(files,
			file{"class_accuracy.csv", func(p string) error { return report.WriteClassAccuracyCSV(p, acc) }},
			file{"confusion_matrix.csv", func(p string) error { return report.WriteConfusionCSV(p, &res.Test.Confusion) }},
			file{"class_accuracy.png", func(p string) error {
				return report.PlotClassAccuracy(p, acc, "Test accuracy per class — "+title)
			}})
	}
	var errs []error
	s.Files, s.WriteErrors = []string{}, map[string]string{}
	for _, f := range files {
		if err := f.write(path(f.name)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
			s.WriteErrors[f.name] = err.Error()
			continue
		}
		s.Files = append(s.Files, f.name)
	}
	if err := report.WriteJSON(path("summary.json"), s); err != nil {
		errs = append(errs, fmt.Errorf("summary.json: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("writing the outputs into %s: %w", r.out, errors.Join(errs...))
	}
	return nil
}

// print shows the results on the terminal; writeErr says whether every
// output reached the folder.
func (r *runRecord) print(w io.Writer, writeErr error) {
	res := r.res
	if res.Interrupted {
		fmt.Fprintf(w, "interrupted after %d steps\n", len(res.Steps))
	}
	if res.Test != nil {
		how := "inference mode"
		if res.PreciseTest != nil {
			how += ", Keras' moving averages"
		}
		fmt.Fprintf(w, "test:  loss %.4f  accuracy %.2f%%  (%d images, %s)\n", res.Test.Loss, 100*res.Test.Accuracy, res.Test.Confusion.Total(), how)
	}
	if res.PreciseTest != nil {
		fmt.Fprintf(w, "test:  loss %.4f  accuracy %.2f%%  (precise BN: statistics over %d training batches)\n", res.PreciseTest.Loss, 100*res.PreciseTest.Accuracy, res.PreciseBNBatches)
	}
	if res.Train != nil {
		fmt.Fprintf(w, "train: loss %.4f  accuracy %.2f%%  (%d images, inference mode)\n", res.Train.Loss, 100*res.Train.Accuracy, res.Train.Confusion.Total())
	}
	if res.Test != nil {
		fmt.Fprintln(w, "per-class test accuracy:")
		_ = report.ClassTable(w, &res.Test.Confusion)
	}
	s := r.summary()
	fmt.Fprintf(w, "time: total %.1f s = training %.1f s + test evaluation %.1f s (%.1f%%) + final evaluation %.1f s (all evaluation %.1f%%); %.0f images/s training\n",
		s.TotalS, s.TrainS, s.TestEvalS, 100*s.TestEvalShare, s.FinalEvalS, 100*s.EvalShare, s.ImagesPerS)
	if writeErr != nil {
		fmt.Fprintf(w, "outputs: %s (incomplete: some files could not be written, see the error below)\n", r.out)
		return
	}
	fmt.Fprintf(w, "outputs: %s\n", r.out)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mnistgpu/mnistgpu/internal/metrics"
	"github.com/mnistgpu/mnistgpu/internal/model"
	"github.com/mnistgpu/mnistgpu/internal/report"
	"github.com/mnistgpu/mnistgpu/internal/train"
)

// EvalCmd reports test metrics of a saved model.
type EvalCmd struct {
	Checkpoint string `short:"c" required:"" type:"existingfile" placeholder:"FILE" help:"A model.ckpt written by train."`
	Device     string `short:"d" default:"auto" enum:"auto,cpu,cuda" placeholder:"NAME" help:"Backend: auto (cuda when usable, else cpu), cpu or cuda."`
	EvalBatch  string `name:"eval-batch" default:"auto" placeholder:"N" help:"Evaluation batch size; auto: 500 on cpu, 10000 on cuda."`
	LimitTest  int    `name:"limit-test" placeholder:"N" help:"Use only the first N test images (default: all 10,000)."`
	JSON       bool   `name:"json" help:"Print one JSON object (loss, accuracy, per-class accuracy, confusion matrix) instead of text."`
	dataDirFlag
}

func (c *EvalCmd) Validate() error {
	if c.LimitTest < 0 {
		return fmt.Errorf("--limit-test %d: must be ≥ 0", c.LimitTest)
	}
	_, err := autoInt("--eval-batch", c.EvalBatch, 1, 1)
	return err
}

func (c *EvalCmd) Run(ctx context.Context) error {
	_, spec, values, err := readCheckpointFile(c.Checkpoint)
	if err != nil {
		return err
	}
	b, err := openBackend(c.Device)
	if err != nil {
		return err
	}
	defer b.Close()
	_, testSet, err := loadData(ctx, c.dataDirFlag)
	if err != nil {
		return err
	}
	testSet = testSet.Limit(c.LimitTest)
	evalBatch, _ := autoInt("--eval-batch", c.EvalBatch, defaultEvalBatch[b.Name()], 1)
	m, err := model.New(b, spec)
	if err != nil {
		return err
	}
	if err := m.SetValues(values); err != nil {
		return fmt.Errorf("%s: %w", c.Checkpoint, err)
	}
	ev, err := train.NewEvaluator(m, evalBatch, testSet.N)
	if err != nil {
		return err
	}
	data, err := b.UploadDataset(testSet.Images, testSet.Labels, testSet.N, testSet.Rows, testSet.Cols)
	if err != nil {
		return err
	}
	defer data.Close()
	fmt.Fprintf(os.Stderr, "evaluating %s (k=%d) on %s: %d test images, batch %d\n", c.Checkpoint, spec.Config.Kernel, b.Name(), testSet.N, evalBatch)
	res, err := ev.Run(ctx, data, testSet.N, true)
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("evaluation stopped before its end, nothing to report: %w", context.Cause(ctx))
	}
	if err != nil {
		return err
	}
	if c.JSON {
		return writeEvalJSON(os.Stdout, evalJSON{
			Checkpoint: c.Checkpoint, Kernel: spec.Config.Kernel, Device: b.Name(), DeviceName: b.Device(),
			TestImages: testSet.N, TestLoss: num(res.Loss), TestAcc: num(res.Accuracy),
			PerClassAcc: perClass(&res.Confusion), Confusion: res.Confusion.Counts,
		})
	}
	fmt.Printf("checkpoint %s (k=%d) on %s\n", c.Checkpoint, spec.Config.Kernel, b.Name())
	fmt.Printf("test: loss %.4f  accuracy %.2f%%  (%d images, inference mode)\n", res.Loss, 100*res.Accuracy, testSet.N)
	return report.ClassTable(os.Stdout, &res.Confusion)
}

// evalJSON is `eval --json`: the fields mean what summary.json's of the
// same names do (docs/outputs.md).
type evalJSON struct {
	Checkpoint  string                                  `json:"checkpoint"`
	Kernel      int                                     `json:"kernel"`
	Device      string                                  `json:"device"`
	DeviceName  string                                  `json:"device_name"`
	TestImages  int                                     `json:"test_images"`
	TestLoss    *float64                                `json:"test_loss"`
	TestAcc     *float64                                `json:"test_acc"`
	PerClassAcc []*float64                              `json:"per_class_acc"`
	Confusion   [model.NumClasses][model.NumClasses]int `json:"confusion"` // [true][predicted]
}

func writeEvalJSON(w io.Writer, v evalJSON) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// perClass is the per-class accuracy, null for a class with no examples.
func perClass(c *metrics.Confusion) []*float64 {
	out := []*float64{}
	for _, a := range c.ClassAccuracy() {
		out = append(out, num(a))
	}
	return out
}

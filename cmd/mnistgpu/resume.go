package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mnistgpu/mnistgpu/internal/atomicfile"
	"github.com/mnistgpu/mnistgpu/internal/checkpoint"
	"github.com/mnistgpu/mnistgpu/internal/model"
	"github.com/mnistgpu/mnistgpu/internal/train"
)

// Resuming continues a stopped run in its own folder, the one that holds
// its model.ckpt: the checkpoint's training state names the run (its
// settings, position and records), so the folder's other files are that
// run's outputs, which the resumed run replaces file by file, atomically.
// That keeps the output-folder policy: a run never writes into a folder
// holding another run's files. A folder with files no run writes, or one in
// use by a running process, is refused as for --overwrite.

// resumed is the run a --resume continues.
type resumed struct {
	path   string // its model.ckpt
	header *checkpoint.Header
	spec   *model.Spec
	values map[string][]float32
}

// settings are the flags that shape a run, as given: a resumed run must
// have the same, or it would not be the run it continues. The device is
// not one: a run may continue elsewhere (bit for bit only on the same one).
func (c *TrainCmd) settings() map[string]string {
	return map[string]string{
		"kernel": strconv.Itoa(c.Kernel), "epochs": strconv.Itoa(c.Epochs), "batch-size": strconv.Itoa(c.BatchSize),
		"lr": strconv.FormatFloat(c.LR, 'g', -1, 64), "seed": strconv.FormatUint(c.Seed, 10),
		"test-every": c.TestEvery, "eval-batch": c.EvalBatch,
		"limit-train": strconv.Itoa(c.LimitTrain), "limit-test": strconv.Itoa(c.LimitTest),
		"skip-train-eval": strconv.FormatBool(c.SkipTrainEval), "precise-bn": strconv.Itoa(c.PreciseBN),
	}
}

// openResume reads the checkpoint --resume names (a run's folder or its
// model.ckpt) and checks that this command continues that run.
func (c *TrainCmd) openResume() (*resumed, error) {
	path := c.Resume
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		path = filepath.Join(path, "model.ckpt")
	}
	header, spec, values, err := readCheckpointFile(path)
	if err != nil {
		return nil, fmt.Errorf("--resume: %w", err)
	}
	tr := header.Training
	if tr == nil {
		if header.Meta["status"] == "completed" {
			return nil, fmt.Errorf("--resume %s: that run finished (status completed); there is nothing to continue", path)
		}
		return nil, fmt.Errorf("--resume %s: holds weights only, no training state to continue from (written before resumable checkpoints, or by a run stopped after precise BN had replaced its statistics)", path)
	}
	mine := c.settings()
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(mine)) {
		if tr.Settings[k] != mine[k] {
			diffs = append(diffs, fmt.Sprintf("--%s %s (this command: %s)", k, tr.Settings[k], mine[k]))
		}
	}
	if len(diffs) > 0 {
		return nil, fmt.Errorf("--resume %s: the run was trained with %s; resume it with its own settings", path, strings.Join(diffs, ", "))
	}
	return &resumed{path: path, header: header, spec: spec, values: values}, nil
}

// restore loads the run's weights and optimizer state into m and returns
// the loop state to continue from.
func (r *resumed) restore(m *model.Model) (*train.State, error) {
	if err := m.SetValues(r.values); err != nil {
		return nil, fmt.Errorf("--resume %s: %w", r.path, err)
	}
	tr := r.header.Training
	opt := &model.Optimizer{M: r.values[checkpoint.AdamM], V: r.values[checkpoint.AdamV], Step: tr.AdamStep}
	if err := m.SetOptimizerState(opt); err != nil {
		return nil, fmt.Errorf("--resume %s: %w", r.path, err)
	}
	return &tr.Loop, nil
}

// writeResumable saves model.ckpt with everything a later --resume needs.
func (c *TrainCmd) writeResumable(path string, m *model.Model, st *train.State, meta map[string]any) error {
	values, err := m.Values()
	if err != nil {
		return err
	}
	opt, err := m.OptimizerState()
	if err != nil {
		return err
	}
	tr := &checkpoint.Training{Settings: c.settings(), Loop: *st}
	return atomicfile.Write(path, func(w io.Writer) error {
		return checkpoint.WriteTraining(w, m.Spec, values, meta, tr, opt)
	})
}

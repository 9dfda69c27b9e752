package main

import (
	"fmt"

	"log/slog"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/mnistgpu/mnistgpu/internal/train"
)

// progressView shows training progress: a bar with step, loss, accuracy and
// ETA on a terminal, or a plain log line every few seconds otherwise (CI
// logs and pipes should not fill with carriage returns).
type progressView struct {
	bar     *progressbar.ProgressBar
	log     *slog.Logger
	lastLog time.Time
	every   time.Duration
	grid    *gridPosition // set for the runs of a bench grid
}

// gridPosition is where a run stands in a bench grid.
type gridPosition struct {
	run, runs int
	kernel    int
	seed      uint64
	eta       func(train.Progress) time.Duration // of the whole grid
}

func newProgressView(total int, out *os.File) *progressView {
	if isatty.IsTerminal(out.Fd()) || isatty.IsCygwinTerminal(out.Fd()) {
		return &progressView{bar: progressbar.NewOptions(total,
			progressbar.OptionSetWriter(out),
			progressbar.OptionSetDescription("train"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("step"),
			progressbar.OptionShowIts(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)}
	}
	return &progressView{log: slog.New(slog.NewTextHandler(out, nil)), every: 5 * time.Second}
}

func (v *progressView) update(p train.Progress) {
	desc := fmt.Sprintf("epoch %d loss %.4f acc %.4f", p.Last.Epoch, p.Last.RunningLoss, p.Last.RunningAcc)
	if p.Last.HasTest() {
		desc += fmt.Sprintf(" test %.4f", p.Last.TestLoss)
	}
	if p.Evaluating {
		desc += " (evaluating test set)"
	}
	if v.bar != nil {
		if g := v.grid; g != nil {
			desc = fmt.Sprintf("run %d/%d k=%d seed %d (grid ETA %s) %s", g.run, g.runs, g.kernel, g.seed, g.eta(p).Round(time.Second), desc)
		}
		v.bar.Describe(desc)
		_ = v.bar.Set(p.Done)
		return
	}
	// A line every few seconds, plus one for each test evaluation and the last step.
	if p.Done < p.Total && !p.Last.HasTest() && time.Since(v.lastLog) < v.every {
		return
	}
	if p.Evaluating {
		return
	}
	v.lastLog = time.Now()
	eta := time.Duration(0)
	if p.Done > 0 {
		eta = time.Duration(float64(p.Elapsed) / float64(p.Done) * float64(p.Total-p.Done)).Round(time.Second)
	}
	attrs := []any{"step", fmt.Sprintf("%d/%d", p.Done, p.Total), "epoch", p.Last.Epoch,
		"loss", fmt.Sprintf("%.4f", p.Last.RunningLoss), "acc", fmt.Sprintf("%.4f", p.Last.RunningAcc), "eta", eta}
	if p.Last.HasTest() {
		attrs = append(attrs, "test_loss", fmt.Sprintf("%.4f", p.Last.TestLoss))
	}
	if g := v.grid; g != nil {
		attrs = append([]any{"run", fmt.Sprintf("%d/%d", g.run, g.runs), "kernel", g.kernel, "seed", g.seed}, attrs...)
		attrs = append(attrs, "grid_eta", g.eta(p).Round(time.Second))
	}
	v.log.Info("train", attrs...)
}

func (v *progressView) finish() {
	if v.bar != nil {
		_ = v.bar.Finish()
		_ = v.bar.Clear()
	}
}

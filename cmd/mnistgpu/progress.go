package main

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mnistgpu/mnistgpu/internal/train"
)

// progressView shows training progress as Keras' fit does: one line per
// epoch that stays on screen (steps, time, ms/step, loss, accuracy and the
// test loss and accuracy), and on a terminal a live bar within the epoch,
// redrawn after every step with its rate and ETA, whose text says why the
// count stops when an evaluation pass runs. Elsewhere (CI logs, pipes) it
// writes plain log lines: one every few seconds and one per epoch, without
// carriage returns.
type progressView struct {
	out              *os.File
	epochs, perEpoch int
	grid             *gridPosition // set for the runs of a bench grid

	bar       *progressbar.ProgressBar // terminal only: the current epoch's bar
	barEpoch  int
	drawn     time.Time // when the bar was last drawn
	drawStage string    // the stage it showed
	firstStep time.Time // when the epoch's first step was reported
	firstDone int       // and its number
	widest    int       // the widest line the bar has drawn, to erase it
	cols      int       // the terminal's width, 0 if unknown

	log     *slog.Logger // plain output only
	lastLog time.Time
	every   time.Duration

	last       train.Progress // the latest update
	printed    int            // epochs whose line was written
	epochStart time.Duration  // Elapsed when the current epoch began
	stage      string         // the evaluation stage last announced in plain output
}

// gridPosition is where a run stands in a bench grid.
type gridPosition struct {
	run, runs int
	kernel    int
	seed      uint64
	eta       func(train.Progress) time.Duration // of the whole grid
}

// newView makes the progress view of one run of epochs × perEpoch steps.
type newView func(epochs, perEpoch int, out *os.File) *progressView

// newProgressView makes a view; grid is nil outside a bench grid.
func newProgressView(epochs, perEpoch int, out *os.File, grid *gridPosition) *progressView {
	v := &progressView{out: out, epochs: epochs, perEpoch: perEpoch, grid: grid}
	if !isTerminal(out) {
		v.log, v.every = slog.New(slog.NewTextHandler(out, nil)), 5*time.Second
		return v
	}
	if w, _, err := term.GetSize(int(out.Fd())); err == nil {
		v.cols = w
	}
	v.startBar(1)
	v.bar.Describe(v.fit(v.prefix(1) + "starting: uploading the data, first steps…"))
	return v
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// startBar replaces the bar with a fresh one for epoch. The bar draws only
// the bar: the count, the rate and the ETA are the view's own (taken from
// the steps of this epoch, so the first draw does not read "0 step/hr"),
// and the view decides when to draw, so that the text and the count shown
// are always of the same moment.
func (v *progressView) startBar(epoch int) {
	v.barEpoch, v.firstDone = epoch, 0
	v.bar = progressbar.NewOptions(v.perEpoch,
		progressbar.OptionSetWriter(v.out),
		progressbar.OptionSetWidth(12),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionThrottle(0),
	)
}

// redrawEvery is how often the bar is drawn while steps run: often enough
// to look live, rarely enough that fast GPU steps cost nothing.
const redrawEvery = 100 * time.Millisecond

// prefix names the run (in a grid) and the epoch.
func (v *progressView) prefix(epoch int) string {
	s := fmt.Sprintf("epoch %d/%d ", epoch, v.epochs)
	if g := v.grid; g != nil {
		s = fmt.Sprintf("run %d/%d k=%d seed %d, ", g.run, g.runs, g.kernel, g.seed) + s
	}
	return s
}

// epochOf is the epoch of the step just done (1-based).
func (v *progressView) epochOf(done int) int { return min(max(1, (done-1)/v.perEpoch+1), v.epochs) }

func (v *progressView) update(p train.Progress) {
	epoch := v.epochOf(p.Done)
	if epoch > v.printed+1 {
		// An epoch ended before its line could be written (no test pass
		// after it): write it with what is known.
		v.epochLine(v.last, v.last.Last.TestLoss, v.last.Last.TestAcc)
	}
	v.last = p
	endOfEpoch := p.Done == epoch*v.perEpoch
	if v.bar != nil {
		v.updateBar(p, epoch)
	} else {
		v.logLine(p, epoch)
	}
	// The test pass at the end of an epoch other than the last has run:
	// its line is complete. The last epoch's waits for the final pass.
	if endOfEpoch && epoch < v.epochs && p.Stage == "" && p.Last.Step == p.Done && p.Last.HasTest() {
		v.epochLine(p, p.Last.TestLoss, p.Last.TestAcc)
	}
}

func (v *progressView) updateBar(p train.Progress, epoch int) {
	if epoch != v.barEpoch {
		v.startBar(epoch)
	}
	done := p.Done - (epoch-1)*v.perEpoch
	now := time.Now()
	if v.firstDone == 0 {
		v.firstStep, v.firstDone = now, done
	}
	// Draw at most every redrawEvery, but at once when a pass begins (it
	// takes seconds: say so now) and at the epoch's last step.
	if p.Stage == v.drawStage && done < v.perEpoch && now.Sub(v.drawn) < redrawEvery {
		return
	}
	v.drawn, v.drawStage = now, p.Stage
	desc := fmt.Sprintf("%s%d/%d", v.prefix(epoch), done, v.perEpoch)
	if done > v.firstDone {
		perStep := now.Sub(v.firstStep) / time.Duration(done-v.firstDone)
		desc += fmt.Sprintf(" %s/step ETA %s", shortDuration(perStep), (perStep * time.Duration(v.perEpoch-done)).Round(time.Second))
	}
	desc += " " + metricsText(p)
	if g := v.grid; g != nil {
		desc += fmt.Sprintf(" grid ETA %s", g.eta(p).Round(time.Second))
	}
	switch {
	case p.Stage != "":
		desc += " | " + p.Stage + "…"
	case math.IsNaN(p.Last.RunningLoss):
		desc += " | first steps…"
	}
	v.bar.Describe(v.fit(desc))
	_ = v.bar.Set(done)
	v.widest = max(v.widest, utf8.RuneCountInString(v.bar.String()))
}

// clearBar erases the bar's line. progressbar's own Clear forgets lines
// drawn after the bar filled up (its descriptions of the final passes).
func (v *progressView) clearBar() {
	n := v.widest + 2
	if v.cols > 0 {
		n = min(n, v.cols-1) // a full row would wrap
	}
	fmt.Fprintf(v.out, "\r%s\r", strings.Repeat(" ", n))
}

// barWidth is what the bar draws besides its description: " 62% |", 12
// cells, "|  " before it and a space after.
const barWidth = 23

// fit shortens desc so that the bar's line fits the terminal: a line that
// wraps cannot be redrawn in place, and each redraw would add a line.
func (v *progressView) fit(desc string) string {
	room := v.cols - barWidth - 1
	if v.cols == 0 || utf8.RuneCountInString(desc) <= room {
		return desc
	}
	if room < 1 {
		return ""
	}
	return string([]rune(desc)[:room-1]) + "…"
}

// shortDuration writes a step time as Keras does: 72ms, 1.3s.
func shortDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// metricsText is the loss and accuracy of the latest record read back, and
// its test loss if it has one.
func metricsText(p train.Progress) string {
	if math.IsNaN(p.Last.RunningLoss) {
		return "loss – acc –"
	}
	s := fmt.Sprintf("loss %.4f acc %.4f", p.Last.RunningLoss, p.Last.RunningAcc)
	if p.Last.HasTest() {
		s += fmt.Sprintf(" test_loss %.4f", p.Last.TestLoss)
	}
	return s
}

// logLine writes a plain line every few seconds and when an evaluation
// stage begins that takes a while (the final passes).
func (v *progressView) logLine(p train.Progress, epoch int) {
	if p.Stage != "" {
		if p.Stage != train.StageTest && p.Stage != v.stage {
			v.stage = p.Stage
			v.log.Info("evaluating", "stage", p.Stage)
		}
		return
	}
	if p.Done < p.Total && (time.Since(v.lastLog) < v.every || math.IsNaN(p.Last.RunningLoss)) {
		return
	}
	v.lastLog = time.Now()
	eta := time.Duration(0)
	if p.Done > 0 {
		eta = time.Duration(float64(p.Elapsed) / float64(p.Done) * float64(p.Total-p.Done)).Round(time.Second)
	}
	attrs := []any{"step", fmt.Sprintf("%d/%d", p.Done, p.Total), "epoch", epoch,
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

// epochLine writes the line that stays for the epoch p ended, Keras-style:
//
//	epoch 1/3  938/938  67.5s 72ms/step  loss 0.1234  acc 0.9612  test_loss 0.0618  test_acc 0.9782
func (v *progressView) epochLine(p train.Progress, testLoss, testAcc float64) {
	epoch := v.printed + 1
	v.printed = epoch
	steps := p.Done - (epoch-1)*v.perEpoch
	took := p.Elapsed - v.epochStart
	v.epochStart = p.Elapsed
	msPerStep := took.Seconds() * 1000 / float64(max(steps, 1))
	if v.bar == nil {
		attrs := []any{"epoch", fmt.Sprintf("%d/%d", epoch, v.epochs), "steps", fmt.Sprintf("%d/%d", steps, v.perEpoch),
			"time", fmt.Sprintf("%.1fs", took.Seconds()), "ms_per_step", fmt.Sprintf("%.0f", msPerStep),
			"loss", fmt.Sprintf("%.4f", p.Last.RunningLoss), "acc", fmt.Sprintf("%.4f", p.Last.RunningAcc)}
		if !math.IsNaN(testLoss) {
			attrs = append(attrs, "test_loss", fmt.Sprintf("%.4f", testLoss), "test_acc", fmt.Sprintf("%.4f", testAcc))
		}
		if g := v.grid; g != nil {
			attrs = append([]any{"run", fmt.Sprintf("%d/%d", g.run, g.runs), "kernel", g.kernel, "seed", g.seed}, attrs...)
		}
		v.log.Info("epoch", attrs...)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d/%d  %.1fs %.0fms/step  loss %.4f  acc %.4f", strings.TrimSuffix(v.prefix(epoch), " "),
		steps, v.perEpoch, took.Seconds(), msPerStep, p.Last.RunningLoss, p.Last.RunningAcc)
	if !math.IsNaN(testLoss) {
		fmt.Fprintf(&b, "  test_loss %.4f  test_acc %.4f", testLoss, testAcc)
	}
	// Erase the bar, write the line that stays, and let the next update
	// start the next epoch's bar below it.
	v.clearBar()
	fmt.Fprintln(v.out, b.String())
	v.barEpoch = 0
}

// finish writes the last epoch's line with the final test pass (res may be
// nil when nothing was measured) and removes the bar.
func (v *progressView) finish(res *train.Result) {
	if v.printed < v.epochs && v.last.Done > v.printed*v.perEpoch {
		testLoss, testAcc := math.NaN(), math.NaN()
		if res != nil && res.Test != nil {
			testLoss, testAcc = res.Test.Loss, res.Test.Accuracy
		}
		p := v.last
		if res != nil {
			p.Elapsed = res.Training + res.TestEval
			if n := len(res.Steps); n > 0 {
				p.Last = res.Steps[n-1]
			}
		}
		v.epochLine(p, testLoss, testAcc)
	}
	if v.bar != nil {
		v.clearBar()
	}
}

// showStatus says on a terminal what a silent stretch of work is doing
// (loading the data, starting a backend) and returns the function that
// erases it. Logs get nothing: the next line there says what happened.
func showStatus(out *os.File, msg string) (done func()) {
	if !isTerminal(out) {
		return func() {}
	}
	// The cursor goes back to the start, so that anything the work itself
	// prints (a download's bar) overwrites the message rather than follow it.
	fmt.Fprint(out, msg+"\r")
	return func() { fmt.Fprintf(out, "\r%s\r", strings.Repeat(" ", utf8.RuneCountInString(msg))) }
}

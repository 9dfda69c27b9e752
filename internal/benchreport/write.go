package benchreport

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mnistgpu/mnistgpu/internal/atomicfile"
	"github.com/mnistgpu/mnistgpu/internal/metrics"
)

// Settings are what every run of the grid shared.
type Settings struct {
	Device, DeviceName      string // backend name and its device string
	Epochs, BatchSize       int
	LR                      float64
	TestEvery, EvalBatch    int
	TrainImages, TestImages int
	Kernels                 []int
	Seeds                   []uint64
	GoVersion               string
	Threads                 int
	Finished                string // date and time the report was written
}

// Report is a grid and the runs it got through.
type Report struct {
	Settings
	Runs    []Run  // every run started, in grid order, including a stopped or failed last one
	Planned int    // runs in the whole grid
	Stopped string // why the grid ended early ("" when it ran to the end)
}

// Partial reports whether some planned run did not complete.
func (r *Report) Partial() bool {
	return r.Stopped != "" || completed(r.Runs) < r.Planned
}

func completed(runs []Run) int {
	n := 0
	for _, r := range runs {
		if r.Status == "completed" {
			n++
		}
	}
	return n
}

// Files are the names Write creates in the bench folder.
var Files = []string{"bench.md", "bench.csv", "runs.csv", "loss_curves.png", "class_accuracy.png", "time.png"}

// Write writes bench.md, bench.csv, runs.csv and, when some run completed,
// the three figures into dir, each atomically.
func Write(dir string, rep *Report) error {
	kernels := Summarize(rep.Kernels, rep.Runs)
	path := func(name string) string { return filepath.Join(dir, name) }
	if err := writeText(path("bench.csv"), benchCSV(rep, kernels)); err != nil {
		return err
	}
	if err := writeText(path("runs.csv"), runsCSV(rep.Runs)); err != nil {
		return err
	}
	if err := writeText(path("bench.md"), Markdown(rep, kernels)); err != nil {
		return err
	}
	if completed(rep.Runs) == 0 {
		return nil
	}
	title := fmt.Sprintf("%s, %d epoch(s), batch %d, mean over seeds", rep.Device, rep.Epochs, rep.BatchSize)
	if err := PlotLossCurves(path("loss_curves.png"), kernels, "Loss per mini-batch — "+title); err != nil {
		return err
	}
	if err := PlotClassAccuracy(path("class_accuracy.png"), kernels, "Test accuracy per class — "+title); err != nil {
		return err
	}
	return PlotTime(path("time.png"), kernels, fmt.Sprintf("Time per epoch (training + test passes) — %s, batch %d", rep.Device, rep.BatchSize))
}

func writeText(path, s string) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

// cell formats a number for CSV: shortest exact form, empty for NaN.
func cell(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func csvText(rows [][]string) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.WriteAll(rows) // a bytes.Buffer does not fail
	return b.String()
}

func seedList(seeds []uint64) string {
	s := make([]string, len(seeds))
	for i, v := range seeds {
		s[i] = strconv.FormatUint(v, 10)
	}
	return strings.Join(s, ";")
}

func classHeader(prefix, suffix string) []string {
	h := make([]string, metrics.NumClasses)
	for c := range h {
		h[c] = fmt.Sprintf("%s%d%s", prefix, c, suffix)
	}
	return h
}

// benchCSV is one row per kernel. Accuracies are fractions, times seconds;
// a statistic that could not be computed (sd of one seed) is an empty cell.
func benchCSV(rep *Report, kernels []Kernel) string {
	header := []string{"kernel", "seeds", "runs", "epoch_s_median", "epoch_s_min", "epoch_s_max", "epoch_s_sd",
		"train_epoch_s_median", "images_per_s_median", "eval_share_mean",
		"test_acc_mean", "test_acc_sd", "test_loss_mean", "test_loss_sd",
		"train_acc_mean", "train_acc_sd", "train_loss_mean", "train_loss_sd"}
	header = append(header, classHeader("class_", "_acc_mean")...)
	header = append(header, "device", "device_name", "epochs", "batch_size", "lr", "test_every", "eval_batch",
		"train_images", "test_images", "partial")
	rows := [][]string{header}
	for _, k := range kernels {
		row := []string{strconv.Itoa(k.Kernel), seedList(k.Seeds), strconv.Itoa(k.TestAcc.N),
			cell(k.EpochS.Median), cell(k.EpochS.Min), cell(k.EpochS.Max), cell(k.EpochS.SD),
			cell(k.TrainEpochS.Median), cell(k.ImagesPerS.Median), cell(k.EvalShare.Mean),
			cell(k.TestAcc.Mean), cell(k.TestAcc.SD), cell(k.TestLoss.Mean), cell(k.TestLoss.SD),
			cell(k.TrainAcc.Mean), cell(k.TrainAcc.SD), cell(k.TrainLoss.Mean), cell(k.TrainLoss.SD)}
		for _, c := range k.ClassAcc {
			row = append(row, cell(c.Mean))
		}
		row = append(row, rep.Device, rep.DeviceName, strconv.Itoa(rep.Epochs), strconv.Itoa(rep.BatchSize),
			cell(rep.LR), strconv.Itoa(rep.TestEvery), strconv.Itoa(rep.EvalBatch),
			strconv.Itoa(rep.TrainImages), strconv.Itoa(rep.TestImages), strconv.FormatBool(rep.Partial()))
		rows = append(rows, row)
	}
	return csvText(rows)
}

// runsCSV is one row per run started, whatever its status.
func runsCSV(runs []Run) string {
	header := []string{"kernel", "seed", "status", "dir", "epoch_s", "train_s", "test_eval_s", "final_eval_s", "total_s",
		"images_per_s", "eval_share", "test_acc", "test_loss", "train_acc", "train_loss"}
	header = append(header, classHeader("class_", "_acc")...)
	rows := [][]string{header}
	for _, r := range runs {
		row := []string{strconv.Itoa(r.Kernel), strconv.FormatUint(r.Seed, 10), r.Status, r.Dir,
			cell(r.EpochS()), cell(r.TrainS), cell(r.TestEvalS), cell(r.FinalEvalS), cell(r.TotalS),
			cell(r.ImagesPerS), cell(r.EvalShare()), cell(r.TestAcc), cell(r.TestLoss), cell(r.TrainAcc), cell(r.TrainLoss)}
		for _, a := range r.ClassAcc {
			row = append(row, cell(a))
		}
		rows = append(rows, row)
	}
	return csvText(rows)
}

// pct is a fraction as a percentage with 2 decimals; "–" for NaN.
func pct(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f%%", 100*v)
}

// meanSD is "mean ± sd" with f formatting each; the sd is left out for one seed.
func meanSD(s Stat, f func(float64) string) string {
	if s.N == 0 {
		return "–"
	}
	if math.IsNaN(s.SD) {
		return f(s.Mean) + " (1 seed)"
	}
	return f(s.Mean) + " ± " + f(s.SD)
}

func secs(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.1f s", v)
}

func loss(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.4f", v)
}

// points is a fraction difference in percentage points with its sign.
func points(v float64) string { return fmt.Sprintf("%+.2f points", 100*v) }

// Verdict is the one line on whether the test accuracy of b differs from
// that of a by more than the seed-to-seed spread (see Comparison).
func Verdict(c Comparison) string {
	head := fmt.Sprintf("k=%d vs k=%d: test accuracy difference %s", c.B, c.A, points(c.Delta))
	switch {
	case math.IsNaN(c.Delta):
		return head + ": not measured (a kernel has no completed run)"
	case !c.Decided:
		return head + ": undecided, the rule needs at least 2 seeds per kernel"
	case c.SE == 0 && c.Exceeds:
		return head + ": EXCEEDS the seed-to-seed spread (the seeds show no spread at all)"
	case c.SE == 0:
		return head + ": no difference and no spread"
	}
	rel := "≤"
	verdict := "within the seed-to-seed spread"
	if c.Exceeds {
		rel, verdict = ">", "EXCEEDS the seed-to-seed spread"
	}
	return fmt.Sprintf("%s, standard error %.2f points, Welch t = %.2f, |t| %s %.2f (5%%, %.1f df, p = %.3g): %s",
		head, 100*c.SE, c.T, rel, c.Critical, c.DF, c.P, verdict)
}

// Rule explains the significance rule in bench.md.
const Rule = "Rule: the difference of the mean test accuracies exceeds the seed-to-seed spread when Welch's " +
	"two-sided t-test rejects equal means at 5%: t = Δ / √(sd₁²/n₁ + sd₂²/n₂) against Student's 97.5% " +
	"quantile for the Welch–Satterthwaite degrees of freedom (fractional, not rounded). With 3 seeds per kernel " +
	"and equal spreads the difference must exceed 2.78 standard errors, with 2 seeds 4.30; when one kernel's " +
	"spread dominates, the degrees of freedom fall towards n−1 and the bar rises (up to 12.7 with 2 seeds)."

// seedReport are the original Keras report's one-epoch numbers (laptop CPU).
var seedReport = map[int][2]string{3: {"98.06%", "30 min"}, 5: {"98.89%", "45 min"}}

// Markdown renders bench.md.
func Markdown(rep *Report, kernels []Kernel) string {
	var b strings.Builder
	names := make([]string, len(kernels))
	for i, k := range kernels {
		names[i] = fmt.Sprintf("k=%d", k.Kernel)
	}
	fmt.Fprintf(&b, "# Kernel %s: bench\n\n", strings.Join(names, " vs "))
	if rep.Partial() {
		why := rep.Stopped
		if why == "" {
			why = "some runs did not complete"
		}
		fmt.Fprintf(&b, "**PARTIAL: %d of %d runs completed (%s).** Statistics are over the completed runs only.\n\n",
			completed(rep.Runs), rep.Planned, why)
	}
	fmt.Fprintf(&b, "Device: %s (%s). Settings: %d epoch(s), batch %d, lr %g, test loss every %s, eval batch %d, "+
		"%d training / %d test images, seeds %s, %s, %d threads. Written %s.\n\n",
		rep.Device, rep.DeviceName, rep.Epochs, rep.BatchSize, rep.LR, every(rep.TestEvery), rep.EvalBatch,
		rep.TrainImages, rep.TestImages, strings.ReplaceAll(seedList(rep.Seeds), ";", ", "), rep.GoVersion, rep.Threads, rep.Finished)

	row := func(label string, f func(k Kernel) string) {
		b.WriteString("| " + label + " |")
		for _, k := range kernels {
			b.WriteString(" " + f(k) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("| |")
	for _, n := range names {
		b.WriteString(" " + n + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(kernels)) + "\n")
	row("completed seeds", func(k Kernel) string {
		return fmt.Sprintf("%d (%s)", len(k.Seeds), strings.ReplaceAll(seedList(k.Seeds), ";", ", "))
	})
	row("test accuracy, mean ± sd", func(k Kernel) string { return meanSD(k.TestAcc, pct) })
	row("test loss, mean ± sd", func(k Kernel) string { return meanSD(k.TestLoss, loss) })
	row("train accuracy, mean ± sd (inference mode)", func(k Kernel) string { return meanSD(k.TrainAcc, pct) })
	row("train loss, mean ± sd", func(k Kernel) string { return meanSD(k.TrainLoss, loss) })
	row("time per epoch, median (min–max)", func(k Kernel) string {
		if k.EpochS.N == 0 {
			return "–"
		}
		return fmt.Sprintf("%s (%.1f–%.1f)", secs(k.EpochS.Median), k.EpochS.Min, k.EpochS.Max)
	})
	row("of which training, median", func(k Kernel) string { return secs(k.TrainEpochS.Median) })
	row("images/s (training), median", func(k Kernel) string {
		if k.ImagesPerS.N == 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f", k.ImagesPerS.Median)
	})
	row("evaluation share of the run, mean", func(k Kernel) string {
		if k.EvalShare.N == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", 100*k.EvalShare.Mean)
	})
	if len(kernels) > 0 && seedReportCovers(kernels) {
		row("seed report (Keras, 1 epoch, laptop): accuracy / time", func(k Kernel) string {
			r := seedReport[k.Kernel]
			return r[0] + " / " + r[1]
		})
	}
	b.WriteString("\n")
	for _, k := range kernels[min(1, len(kernels)):] {
		fmt.Fprintf(&b, "**%s.**\n\n", Verdict(Compare(kernels[0], k)))
	}
	b.WriteString(Rule + " Time per epoch is training plus the periodic test passes (what Keras' fit times), " +
		"without the final passes over the whole test and training sets; the evaluation share counts every pass.\n\n")

	b.WriteString("## Test accuracy per class (mean ± sd over seeds)\n\n| class |")
	for _, n := range names {
		b.WriteString(" " + n + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(kernels)) + "\n")
	for c := range metrics.NumClasses {
		fmt.Fprintf(&b, "| %d |", c)
		for _, k := range kernels {
			b.WriteString(" " + meanSD(k.ClassAcc[c], pct) + " |")
		}
		b.WriteString("\n")
	}

	b.WriteString("\n## Runs\n\n| run | kernel | seed | status | test accuracy | test loss | train accuracy | time per epoch | images/s |\n" +
		"|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.Runs {
		fmt.Fprintf(&b, "| [%s](%s/) | %d | %d | %s | %s | %s | %s | %s | %.0f |\n", r.Dir, r.Dir, r.Kernel, r.Seed,
			r.Status, pct(r.TestAcc), loss(r.TestLoss), pct(r.TrainAcc), secs(r.EpochS()), r.ImagesPerS)
	}
	if completed(rep.Runs) > 0 {
		b.WriteString("\n## Figures\n\n![loss curves](loss_curves.png)\n\n![test accuracy per class](class_accuracy.png)\n\n![time per epoch](time.png)\n")
	}
	return b.String()
}

func seedReportCovers(kernels []Kernel) bool {
	for _, k := range kernels {
		if _, ok := seedReport[k.Kernel]; !ok {
			return false
		}
	}
	return true
}

func every(n int) string {
	switch n {
	case 0:
		return "epoch"
	case 1:
		return "step"
	}
	return fmt.Sprintf("%d steps", n)
}

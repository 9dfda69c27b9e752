package benchreport

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot"

	"github.com/mnistgpu/mnistgpu/internal/metrics"
	"github.com/mnistgpu/mnistgpu/internal/testfiles"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestDescribe(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name string
		in   []float64
		want Stat
	}{
		// mean 5, squares of deviations 9+1+1+9 = 20, sd √(20/3)
		{"even", []float64{8, 2, 6, 4}, Stat{N: 4, Mean: 5, SD: math.Sqrt(20.0 / 3), Median: 5, Min: 2, Max: 8}},
		{"odd", []float64{0.97, 0.99, 0.98}, Stat{N: 3, Mean: 0.98, SD: 0.01, Median: 0.98, Min: 0.97, Max: 0.99}},
		{"NaN left out", []float64{1, nan, 3}, Stat{N: 2, Mean: 2, SD: math.Sqrt2, Median: 2, Min: 1, Max: 3}},
		{"one", []float64{7}, Stat{N: 1, Mean: 7, SD: nan, Median: 7, Min: 7, Max: 7}},
		{"none", nil, Stat{N: 0, Mean: nan, SD: nan, Median: nan, Min: nan, Max: nan}},
	}
	same := func(a, b float64) bool { return (math.IsNaN(a) && math.IsNaN(b)) || near(a, b) }
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Describe(c.in)
			if got.N != c.want.N || !same(got.Mean, c.want.Mean) || !same(got.SD, c.want.SD) ||
				!same(got.Median, c.want.Median) || !same(got.Min, c.want.Min) || !same(got.Max, c.want.Max) {
				t.Errorf("Describe(%v) = %+v, want %+v", c.in, got, c.want)
			}
		})
	}
}

// kernelWith is a kernel whose completed runs have the given test accuracies.
func kernelWith(k int, accs ...float64) Kernel {
	var runs []Run
	for i, a := range accs {
		runs = append(runs, run(k, uint64(i+1), a))
	}
	return Summarize([]int{k}, runs)[0]
}

func run(k int, seed uint64, acc float64) Run {
	r := Run{Kernel: k, Seed: seed, Dir: "k" + strconv.Itoa(k) + "-seed" + strconv.FormatUint(seed, 10), Status: "completed",
		TestAcc: acc, TestLoss: 1 - acc, TrainAcc: acc + 0.005, TrainLoss: 0.9 - acc,
		Epochs: 1, TotalS: 100 * float64(k), TrainS: 80 * float64(k), TestEvalS: 10 * float64(k), FinalEvalS: 10 * float64(k),
		ImagesPerS: 600 / float64(k)}
	for c := range r.ClassAcc {
		r.ClassAcc[c] = acc - 0.001*float64(c)
	}
	for s := 1; s <= 10; s++ {
		st := metrics.Step{Step: s, Epoch: 1, BatchLoss: 2 / float64(s), RunningLoss: 1.5 / float64(s), RunningAcc: 0.5, TestLoss: math.NaN()}
		if s%5 == 0 {
			st.TestLoss = 1 / float64(s)
		}
		r.Steps = append(r.Steps, st)
	}
	return r
}

func TestCompare(t *testing.T) {
	cases := []struct {
		name    string
		a, b    Kernel
		decided bool
		exceeds bool
		df      float64
	}{
		// Δ = 0.01, sd 0.001 each: SE = 0.001·√(2/3) ≈ 0.00082, t ≈ 12.2 ≫ 2.776 (4 df).
		{"clear", kernelWith(3, 0.97, 0.971, 0.969), kernelWith(5, 0.98, 0.981, 0.979), true, true, 4},
		// Δ = 0.002, sd 0.01 each: t ≈ 0.24.
		{"noise", kernelWith(3, 0.97, 0.98, 0.99), kernelWith(5, 0.972, 0.982, 0.992), true, false, 4},
		// Δ = 0.02, SE = 0.01·√(2/3) ≈ 0.00816, t ≈ 2.45: above 2, below 2.776, so not significant.
		{"between 2 SE and the t quantile", kernelWith(3, 0.97, 0.98, 0.99), kernelWith(5, 0.99, 1.00, 1.01), true, false, 4},
		{"one seed", kernelWith(3, 0.97), kernelWith(5, 0.99, 0.98), false, false, 0},
		{"no spread, different", kernelWith(3, 0.97, 0.97), kernelWith(5, 0.98, 0.98), true, true, 2},
		{"no spread, equal", kernelWith(3, 0.97, 0.97), kernelWith(5, 0.97, 0.97), true, false, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Compare(c.a, c.b)
			if got.Decided != c.decided || got.Exceeds != c.exceeds || !(got.DF == c.df || math.IsNaN(got.DF) && c.df == 0) {
				t.Errorf("Compare = %+v, want decided %v exceeds %v df %g", got, c.decided, c.exceeds, c.df)
			}
			if got.A != c.a.Kernel || got.B != c.b.Kernel || !near(got.Delta, c.b.TestAcc.Mean-c.a.TestAcc.Mean) {
				t.Errorf("Compare = %+v: wrong kernels or difference", got)
			}
			v := Verdict(got)
			if strings.Contains(v, "EXCEEDS") != c.exceeds || strings.Contains(v, "undecided") == c.decided {
				t.Errorf("verdict %q does not match %+v", v, got)
			}
		})
	}
	// Unequal spreads: the Welch–Satterthwaite df drops towards the noisier
	// kernel's n-1. va = 0.01²/3, vb = 0.001²/3 →
	// df = (va+vb)²/((va²+vb²)/2) = 2·1.01²/1.0001 ≈ 2.0402, kept fractional.
	got := Compare(kernelWith(3, 0.96, 0.97, 0.98), kernelWith(5, 0.97, 0.971, 0.969))
	if !near(got.DF, 2*1.01*1.01/1.0001) {
		t.Errorf("unequal spreads: df %g, want %g (not rounded)", got.DF, 2*1.01*1.01/1.0001)
	}
	if !(got.Critical < 4.303 && got.Critical > 3.182) {
		t.Errorf("unequal spreads: critical %g for %.4f df, want between the 2-df 4.303 and the 3-df 3.182", got.Critical, got.DF)
	}
	if p := tTail(got.Critical, got.DF); math.Abs(p-0.025) > 1e-6 {
		t.Errorf("critical %g for %.4f df leaves %g in the upper tail, want 0.025", got.Critical, got.DF, p)
	}
}

// Two seeds per kernel with one kernel's spread dominating: the case that
// rounding down turned into 1 df and a critical value of 12.71.
func TestCompareTwoSeedsFractionalDF(t *testing.T) {
	got := Compare(kernelWith(3, 0.97, 0.99), kernelWith(5, 0.995, 0.996))
	// va = 0.02²/2/2 = 1e-4, vb = 0.001²/2/2 = 2.5e-7: df = (va+vb)²/(va²+vb²) ≈ 1.005.
	if got.DF <= 1 || got.DF >= 1.01 {
		t.Fatalf("df %g, want just above 1", got.DF)
	}
	if !(got.Critical < 12.706) || math.Abs(tTail(got.Critical, got.DF)-0.025) > 1e-6 {
		t.Errorf("critical %g for %g df: want the exact quantile, a little under the 1-df 12.706", got.Critical, got.DF)
	}
	if p := tTail(math.Abs(got.T), got.DF); math.Abs(got.P-2*p) > 1e-9 {
		t.Errorf("p = %g, want twice the upper tail %g", got.P, p)
	}
	if !strings.Contains(Verdict(got), fmt.Sprintf("%.1f df, p = ", got.DF)) {
		t.Errorf("the verdict should give the fractional df and the p-value: %q", Verdict(got))
	}
}

// The independent check agrees with the printed two-sided 5% table at whole
// degrees of freedom.
func TestTailAgainstTable(t *testing.T) {
	for df, want := range map[float64]float64{1: 12.706, 2: 4.303, 4: 2.776, 10: 2.228, 30: 2.042} {
		if got := tTail(want, df); math.Abs(got-0.025) > 5e-5 {
			t.Errorf("table value %g for %g df leaves %g in the tail", want, df, got)
		}
	}
}

// tTail is P(T > x) for Student's t with df degrees of freedom, by Simpson's
// rule over the density: an independent check of gonum's quantile.
func tTail(x, df float64) float64 {
	lg1, _ := math.Lgamma((df + 1) / 2)
	lg2, _ := math.Lgamma(df / 2)
	c := math.Exp(lg1-lg2) / math.Sqrt(df*math.Pi)
	pdf := func(t float64) float64 { return c * math.Pow(1+t*t/df, -(df+1)/2) }
	const n = 200000 // even
	h := x / n
	sum := pdf(0) + pdf(x)
	for i := 1; i < n; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		sum += w * pdf(float64(i)*h)
	}
	return 0.5 - sum*h/3
}

func TestSummarizeSkipsUnfinishedRuns(t *testing.T) {
	stopped := run(5, 2, 0.5)
	stopped.Status = "interrupted"
	ks := Summarize([]int{3, 5, 7}, []Run{run(3, 1, 0.97), run(5, 1, 0.98), stopped, run(3, 2, 0.99)})
	if len(ks) != 3 {
		t.Fatalf("%d kernels, want 3", len(ks))
	}
	if ks[0].TestAcc.N != 2 || !near(ks[0].TestAcc.Mean, 0.98) || ks[1].TestAcc.N != 1 || ks[2].TestAcc.N != 0 {
		t.Errorf("counts/means wrong: %+v %+v %+v", ks[0].TestAcc, ks[1].TestAcc, ks[2].TestAcc)
	}
	// Epoch time is training plus periodic test passes: (80+10)·k.
	if !near(ks[0].EpochS.Median, 270) || !near(ks[0].EvalShare.Mean, 0.2) || !near(ks[1].ImagesPerS.Median, 120) {
		t.Errorf("k=3 epoch %v share %v; k=5 images/s %v", ks[0].EpochS.Median, ks[0].EvalShare.Mean, ks[1].ImagesPerS.Median)
	}
	if !near(ks[0].ClassAcc[9].Mean, 0.98-0.009) {
		t.Errorf("class 9 mean %v", ks[0].ClassAcc[9].Mean)
	}
}

func report(runs []Run, planned int, stopped string) *Report {
	return &Report{Settings: Settings{Device: "cpu", DeviceName: "test CPU", Epochs: 1, BatchSize: 64, LR: 0.001,
		TestEvery: 5, EvalBatch: 500, TrainImages: 640, TestImages: 200, Kernels: []int{3, 5}, Seeds: []uint64{1, 2, 3},
		GoVersion: "go1.26", Threads: 2, Finished: "2026-11-27T10:00:00Z"}, Runs: runs, Planned: planned, Stopped: stopped}
}

func TestWrite(t *testing.T) {
	runs := []Run{run(3, 1, 0.97), run(5, 1, 0.98), run(3, 2, 0.971), run(5, 2, 0.981), run(3, 3, 0.969), run(5, 3, 0.979)}
	dir := t.TempDir()
	if err := Write(dir, report(runs, 6, "")); err != nil {
		t.Fatal(err)
	}
	for _, name := range Files {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	for _, name := range []string{"loss_curves.png", "class_accuracy.png", "time.png"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		switch img, err := png.Decode(bytes.NewReader(data)); {
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case img.Bounds().Dx() < 500 || img.Bounds().Dy() < 400:
			t.Errorf("%s is %v, want at least 500x400", name, img.Bounds())
		}
	}

	rows := testfiles.ReadCSV(t, filepath.Join(dir, "bench.csv"))
	if len(rows) != 3 {
		t.Fatalf("bench.csv has %d rows, want header + 2 kernels", len(rows))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	get := func(row int, name string) string {
		i, ok := col[name]
		if !ok {
			t.Fatalf("bench.csv has no column %s", name)
		}
		return rows[row][i]
	}
	num := func(row int, name string) float64 {
		v, err := strconv.ParseFloat(get(row, name), 64)
		if err != nil {
			t.Fatalf("bench.csv %s: %v", name, err)
		}
		return v
	}
	if get(1, "kernel") != "3" || get(2, "kernel") != "5" || get(1, "seeds") != "1;2;3" || get(1, "runs") != "3" {
		t.Errorf("bench.csv kernels/seeds: %v", rows[1:])
	}
	if !near(num(1, "test_acc_mean"), 0.97) || !near(num(1, "test_acc_sd"), 0.001) || !near(num(2, "test_acc_mean"), 0.98) {
		t.Errorf("bench.csv accuracies: %s ± %s, %s", get(1, "test_acc_mean"), get(1, "test_acc_sd"), get(2, "test_acc_mean"))
	}
	if !near(num(2, "epoch_s_median"), 450) || !near(num(1, "images_per_s_median"), 200) || !near(num(2, "class_9_acc_mean"), 0.971) {
		t.Errorf("bench.csv k=5 epoch %s, k=3 images/s %s, k=5 class 9 %s",
			get(2, "epoch_s_median"), get(1, "images_per_s_median"), get(2, "class_9_acc_mean"))
	}
	if get(1, "device_name") != "test CPU" || get(1, "partial") != "false" || get(1, "batch_size") != "64" {
		t.Errorf("bench.csv settings: %v", rows[1])
	}
	if rr := testfiles.ReadCSV(t, filepath.Join(dir, "runs.csv")); len(rr) != 7 || rr[2][0] != "5" || rr[2][2] != "completed" || rr[2][3] != "k5-seed1" {
		t.Errorf("runs.csv: %v", rr)
	}

	md, err := os.ReadFile(filepath.Join(dir, "bench.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# Kernel k=3 vs k=5: bench",
		"| test accuracy, mean ± sd | 97.00% ± 0.10% | 98.00% ± 0.10% |",
		"| time per epoch, median (min–max) | 270.0 s (270.0–270.0) | 450.0 s (450.0–450.0) |",
		"k=5 vs k=3: test accuracy difference +1.00 points",
		"EXCEEDS the seed-to-seed spread",
		"Welch",
		"98.06% / 30 min | 98.89% / 45 min",
		"| 9 | 96.10% ± 0.10% | 97.10% ± 0.10% |",
		"| [k5-seed3](k5-seed3/) | 5 | 3 | completed | 97.90% |",
		"test CPU",
		"![loss curves](loss_curves.png)",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("bench.md lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(string(md), "PARTIAL") {
		t.Error("a complete grid is marked partial")
	}
}

func TestWritePartial(t *testing.T) {
	stopped := run(5, 1, 0.5)
	stopped.Status = "interrupted"
	dir := t.TempDir()
	if err := Write(dir, report([]Run{run(3, 1, 0.97), stopped}, 6, "interrupted by Ctrl-C")); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "bench.md"))
	for _, want := range []string{"**PARTIAL: 1 of 6 runs completed (interrupted by Ctrl-C).**", "| k5-seed1](k5-seed1/) | 5 | 1 | interrupted |",
		"97.00% (1 seed)", "not measured (a kernel has no completed run)"} {
		if !strings.Contains(string(md), strings.TrimPrefix(want, "| ")) {
			t.Errorf("bench.md lacks %q:\n%s", want, md)
		}
	}
	rows := testfiles.ReadCSV(t, filepath.Join(dir, "bench.csv"))
	if rows[1][len(rows[1])-1] != "true" || rows[2][2] != "0" {
		t.Errorf("bench.csv of a partial grid: %v", rows)
	}

	// Nothing completed: the tables, but no figures.
	dir = t.TempDir()
	if err := Write(dir, report([]Run{stopped}, 6, "interrupted by Ctrl-C")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "loss_curves.png")); !os.IsNotExist(err) {
		t.Errorf("loss_curves.png with no completed run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bench.md")); err != nil {
		t.Error(err)
	}
}

func TestMeanCurves(t *testing.T) {
	a, b := run(3, 1, 0.97), run(3, 2, 0.97)
	for i := range b.Steps {
		b.Steps[i].BatchLoss *= 3 // mean = 2× a's
	}
	b.Steps[0].BatchLoss = math.NaN() // left out at step 1: the mean is a's alone
	batch, running, test := meanCurves([]Run{a, b})
	if len(batch) != 10 || len(running) != 10 || len(test) != 2 {
		t.Fatalf("%d batch, %d running, %d test points", len(batch), len(running), len(test))
	}
	if !near(batch[0].Y, 2) || !near(batch[1].Y, 2) || !near(test[1].X, 10) || !near(test[1].Y, 0.1) {
		t.Errorf("batch %v, test %v", batch[:2], test)
	}
}

// Every axis gets enough labelled ticks to read a value off (time.png had
// two), at round numbers.
func TestNiceTicks(t *testing.T) {
	for _, r := range [][2]float64{{0, 164}, {0, 1.2}, {90, 100.5}, {0, 20000}, {95, 96}} {
		ticks := niceTicks{}.Ticks(r[0], r[1])
		if len(ticks) < 4 || len(ticks) > 12 {
			t.Errorf("range %v: %d ticks %v, want 4 to 12", r, len(ticks), ticks)
		}
		for _, tk := range ticks {
			if tk.Value < r[0] || tk.Value > r[1]+1e-9 || tk.Label == "" {
				t.Errorf("range %v: tick %+v outside the range or unlabelled", r, tk)
			}
		}
	}
}

// The test panel spans the first, BN-lagged test losses (~5) and the last
// (~0.05): on a log scale both stay readable, and every seed's point is in
// range.
func TestTestPanelLogScale(t *testing.T) {
	k := kernelWith(3, 0.98, 0.99)
	for i := range k.Runs {
		k.Runs[i].Steps = []metrics.Step{
			{Step: 200, TestLoss: 4.8 + float64(i)}, {Step: 400, TestLoss: math.NaN()}, {Step: 938, TestLoss: 0.05 / float64(i+1)},
		}
	}
	p := lossPlot("test")
	logScaleTest(p, []Kernel{k})
	if _, ok := p.Y.Scale.(plot.LogScale); !ok {
		t.Fatalf("test panel scale %T, want a log scale", p.Y.Scale)
	}
	if p.Y.Min >= 0.025 || p.Y.Max <= 5.8 || p.Y.Min <= 0 {
		t.Errorf("y range %g..%g does not hold the points 0.025..5.8 (and must stay > 0 on a log scale)", p.Y.Min, p.Y.Max)
	}
	if pts := seedTestPoints(k.Runs); len(pts) != 4 {
		t.Errorf("%d seed points, want 4 (the NaN left out)", len(pts))
	}
	untested := kernelWith(5, 0.98)
	untested.Runs[0].Steps = []metrics.Step{{Step: 1, BatchLoss: 2.3, TestLoss: math.NaN()}}
	empty := lossPlot("test")
	logScaleTest(empty, []Kernel{untested})
	if _, ok := empty.Y.Scale.(plot.LogScale); ok {
		t.Error("a panel without test losses was put on a log scale")
	}
}

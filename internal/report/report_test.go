package report

import (
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/metrics"
	"github.com/mnistgpu/mnistgpu/internal/testfiles"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func TestWriteMetricsCSV(t *testing.T) {
	nan := math.NaN()
	steps := []metrics.Step{
		{Step: 1, Epoch: 1, BatchLoss: 2.302585, RunningLoss: 2.302585, RunningAcc: 0.125, TestLoss: nan, TestAcc: nan},
		{Step: 2, Epoch: 1, BatchLoss: 1.5, RunningLoss: 1.9012925, RunningAcc: 0.25, TestLoss: 1.25, TestAcc: 0.5625},
		{Step: 3, Epoch: 2, BatchLoss: 0.1, RunningLoss: 0.1, RunningAcc: 1, TestLoss: nan, TestAcc: nan},
		{Step: 4, Epoch: 2, BatchLoss: math.Inf(1), RunningLoss: nan, RunningAcc: 0.5, TestLoss: 0.0001234, TestAcc: 1},
	}
	path := filepath.Join(t.TempDir(), "metrics.csv")
	if err := WriteMetricsCSV(path, steps); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"step", "epoch", "batch_loss", "running_loss", "running_acc", "test_loss", "test_acc"},
		{"1", "1", "2.302585", "2.302585", "0.125", "", ""},
		{"2", "1", "1.5", "1.9012925", "0.25", "1.25", "0.5625"},
		{"3", "2", "0.1", "0.1", "1", "", ""},
		{"4", "2", "+Inf", "NaN", "0.5", "0.0001234", "1"},
	}
	got := testfiles.ReadCSV(t, path)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("metrics.csv =\n%q\nwant\n%q", got, want)
	}
	// Shortest 'g' formatting must round-trip exactly.
	v, err := strconv.ParseFloat(got[2][3], 64)
	if err != nil || v != steps[1].RunningLoss {
		t.Errorf("running_loss round trip = %v, %v; want %v", v, err, steps[1].RunningLoss)
	}

	t.Run("no steps", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "metrics.csv")
		if err := WriteMetricsCSV(path, nil); err != nil {
			t.Fatal(err)
		}
		if got := testfiles.ReadCSV(t, path); !reflect.DeepEqual(got, want[:1]) {
			t.Errorf("got %q, want header only", got)
		}
	})
}

func TestWriteClassAccuracyCSV(t *testing.T) {
	acc := [metrics.NumClasses]float64{0.99489796, 1, 0.5, 0, math.NaN(), 0.12345, 0.98765, 0.9, 0.99995, 0.00004}
	path := filepath.Join(t.TempDir(), "class_accuracy.csv")
	if err := WriteClassAccuracyCSV(path, acc); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"Class 0", "Class 1", "Class 2", "Class 3", "Class 4", "Class 5", "Class 6", "Class 7", "Class 8", "Class 9"},
		{"0.9949", "1.0000", "0.5000", "0.0000", "", "0.1235", "0.9877", "0.9000", "1.0000", "0.0000"},
	}
	if got := testfiles.ReadCSV(t, path); !reflect.DeepEqual(got, want) {
		t.Errorf("class_accuracy.csv =\n%q\nwant\n%q", got, want)
	}
}

// fakeConfusion has n examples per class; class i is mistaken for class
// (i+1)%10 i times, and class 9 is empty when empty9 is set.
func fakeConfusion(n int, empty9 bool) *metrics.Confusion {
	var c metrics.Confusion
	for i := range metrics.NumClasses {
		if empty9 && i == 9 {
			continue
		}
		c.Counts[i][i] = n - i
		c.Counts[i][(i+1)%metrics.NumClasses] = i
	}
	return &c
}

func TestWriteConfusionCSV(t *testing.T) {
	c := fakeConfusion(100, false)
	c.Counts[3][7] = 12345
	path := filepath.Join(t.TempDir(), "confusion.csv")
	if err := WriteConfusionCSV(path, c); err != nil {
		t.Fatal(err)
	}
	got := testfiles.ReadCSV(t, path)
	if len(got) != 11 {
		t.Fatalf("rows = %d, want 11", len(got))
	}
	wantHeader := []string{`true\pred`, "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	if !reflect.DeepEqual(got[0], wantHeader) {
		t.Errorf("header = %q, want %q", got[0], wantHeader)
	}
	if want := []string{"3", "0", "0", "0", "97", "3", "0", "0", "12345", "0", "0"}; !reflect.DeepEqual(got[4], want) {
		t.Errorf("row for class 3 = %q, want %q", got[4], want)
	}
	for i := range metrics.NumClasses {
		row := got[i+1]
		if row[0] != strconv.Itoa(i) || len(row) != 11 {
			t.Fatalf("row %d = %q", i, row)
		}
		for j := range metrics.NumClasses {
			if n, _ := strconv.Atoi(row[j+1]); n != c.Counts[i][j] {
				t.Errorf("cell [%d][%d] = %q, want %d", i, j, row[j+1], c.Counts[i][j])
			}
		}
	}

	if err := WriteConfusionCSV(filepath.Join(t.TempDir(), "x.csv"), nil); err == nil {
		t.Error("nil confusion: want error")
	}
}

func TestWriteJSON(t *testing.T) {
	type summary struct {
		Backend   string    `json:"backend"`
		Accuracy  float64   `json:"accuracy"`
		PerClass  []float64 `json:"per_class"`
		Epochs    int       `json:"epochs"`
		Converged bool      `json:"converged"`
	}
	in := summary{Backend: "cuda", Accuracy: 0.9912, PerClass: []float64{0.99, 0.5}, Epochs: 1, Converged: true}
	dir := t.TempDir()
	path := filepath.Join(dir, "summary.json")
	if err := WriteJSON(path, in); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), "}\n") {
		t.Errorf("want a trailing newline, got %q", b)
	}
	if !strings.Contains(string(b), "\n  \"backend\": \"cuda\",\n") {
		t.Errorf("want 2-space indentation, got\n%s", b)
	}
	var out summary
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip = %+v, want %+v", out, in)
	}

	// NaN cannot be encoded: an error, and no file.
	bad := filepath.Join(dir, "bad.json")
	if err := WriteJSON(bad, map[string]float64{"loss": math.NaN()}); err == nil {
		t.Error("NaN: want error")
	}
	if names := testfiles.Names(t, dir); !reflect.DeepEqual(names, []string{"summary.json"}) {
		t.Errorf("dir = %v, want only summary.json", names)
	}
}

func TestClassTable(t *testing.T) {
	var buf bytes.Buffer
	if err := ClassTable(&buf, fakeConfusion(1000, true)); err != nil {
		t.Fatal(err)
	}
	// Class i: 1000-i correct of 1000; class 9 empty. All: 9000-36 of 9000.
	want := "" +
		"class  correct  total  accuracy\n" +
		"    0     1000   1000   100.00%\n" +
		"    1      999   1000    99.90%\n" +
		"    2      998   1000    99.80%\n" +
		"    3      997   1000    99.70%\n" +
		"    4      996   1000    99.60%\n" +
		"    5      995   1000    99.50%\n" +
		"    6      994   1000    99.40%\n" +
		"    7      993   1000    99.30%\n" +
		"    8      992   1000    99.20%\n" +
		"    9        0      0       n/a\n" +
		"  all     8964   9000    99.60%\n"
	if buf.String() != want {
		t.Errorf("ClassTable =\n%s\nwant\n%s", buf.String(), want)
	}

	if err := ClassTable(io.Discard, nil); err == nil {
		t.Error("nil confusion: want error")
	}
}

// fakeSteps is a plausible one-epoch run: the batch loss decays from ln(10)
// with noise, the test set is evaluated every testEvery steps and at the end.
func fakeSteps(n, testEvery int) []metrics.Step {
	rng := rand.New(rand.NewPCG(1, 2))
	steps := make([]metrics.Step, n)
	sum, correct := 0.0, 0.0
	for i := range steps {
		s := i + 1
		base := 2.2*math.Exp(-float64(s)/45) + 0.06 + 0.1*math.Exp(-float64(s)/400)
		loss := base * math.Exp(0.35*rng.NormFloat64())
		sum += loss
		correct += math.Exp(-loss)
		test := math.NaN()
		if (testEvery > 0 && s%testEvery == 0) || s == n {
			test = 0.9 * base
		}
		steps[i] = metrics.Step{
			Step: s, Epoch: 1, BatchLoss: loss,
			RunningLoss: sum / float64(s), RunningAcc: correct / float64(s), TestLoss: test,
		}
	}
	return steps
}

// xyOf returns the finite batch losses, or the finite test losses, of steps
// as the loss figure plots them.
func xyOf(steps []metrics.Step, test bool) plotter.XYs {
	var xy plotter.XYs
	for _, s := range steps {
		y := s.BatchLoss
		if test {
			y = s.TestLoss
		}
		if finite(y) {
			xy = append(xy, plotter.XY{X: float64(s.Step), Y: y})
		}
	}
	return xy
}

func checkPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("%s is %dx%d, want %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
}

func TestPlotLossCurves(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	oneStep := []metrics.Step{{Step: 1, Epoch: 1, BatchLoss: 2.3, RunningLoss: 2.3, RunningAcc: 0.1, TestLoss: 2.2}}
	noTest := fakeSteps(120, 0)
	for i := range noTest {
		noTest[i].TestLoss = nan
	}
	withBad := fakeSteps(300, 50)
	withBad[10].BatchLoss = nan
	withBad[11].BatchLoss = inf
	withBad[12].RunningLoss = math.Inf(-1)
	withBad[49].TestLoss = inf // an evaluated step whose loss overflowed
	allBad := []metrics.Step{
		{Step: 1, Epoch: 1, BatchLoss: nan, RunningLoss: nan, TestLoss: nan},
		{Step: 2, Epoch: 1, BatchLoss: inf, RunningLoss: inf, TestLoss: inf},
	}
	tests := []struct {
		name  string
		steps []metrics.Step
		title string
	}{
		{"one epoch", fakeSteps(938, 50), "mnistgpu: cuda, 1 epoch"},
		{"one step", oneStep, ""},
		{"no test points", noTest, "no test"},
		{"few test points", fakeSteps(200, 100), ""},
		{"nan and inf", withBad, ""},
		{"all non-finite", allBad, ""},
		{"three epochs", fakeSteps(3*938, 100), ""},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "loss"+strconv.Itoa(i)+".png")
			if err := PlotLossCurves(path, tt.steps, tt.title); err != nil {
				t.Fatal(err)
			}
			checkPNG(t, path, 1200, 500)
		})
	}

	t.Run("zero steps", func(t *testing.T) {
		dir := t.TempDir()
		if err := PlotLossCurves(filepath.Join(dir, "loss.png"), nil, ""); err == nil {
			t.Error("want error")
		}
		if names := testfiles.Names(t, dir); len(names) != 0 {
			t.Errorf("dir = %v, want empty", names)
		}
	})
}

func TestAnnotationSteps(t *testing.T) {
	xs := func(idx []int, xy []float64) []float64 {
		var out []float64
		for _, i := range idx {
			out = append(out, xy[i])
		}
		return out
	}
	// The real layout must keep the seed's every-50 rule on a one-epoch run.
	c := draw.New(vgimg.NewWith(vgimg.UseWH(lossWidth, lossHeight), vgimg.UseDPI(figureDPI)))
	left, _ := lossLayout(drawSuptitle(pad(c), "title"))
	trainW := left.Max.X - left.Min.X
	trainGap := labelGap(938, trainW)
	if trainGap >= 50 {
		t.Fatalf("training panel label gap = %.1f steps, want < 50 on a 938-step run", trainGap)
	}

	steps := fakeSteps(938, 50)
	var batch, test []float64
	bxy, txy := xyOf(steps, false), xyOf(steps, true)
	for _, p := range bxy {
		batch = append(batch, p.X)
	}
	for _, p := range txy {
		test = append(test, p.X)
	}
	// The seed's rule on one epoch: every 50 below 600, every 200 after,
	// plus the last step.
	want := []float64{50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 550, 600, 800, 938}
	if got := xs(annotationSteps(bxy, trainGap), batch); !reflect.DeepEqual(got, want) {
		t.Errorf("train annotations at %v, want %v", got, want)
	}
	if got := xs(testAnnotationSteps(txy, 938, 40), test); !reflect.DeepEqual(got, want) {
		t.Errorf("test annotations at %v, want %v", got, want)
	}

	// Evaluated every 70 steps: the nearest evaluated step to each mark.
	steps = fakeSteps(938, 70)
	txy, test = xyOf(steps, true), nil
	for _, p := range txy {
		test = append(test, p.X)
	}
	want = []float64{70, 140, 210, 280, 350, 420, 490, 560, 630, 770, 938}
	if got := xs(testAnnotationSteps(txy, 938, 40), test); !reflect.DeepEqual(got, want) {
		t.Errorf("test every 70: annotations at %v, want %v", got, want)
	}

	// A short run: the last point only.
	steps = fakeSteps(30, 0)
	bxy = xyOf(steps, false)
	if got := annotationSteps(bxy, labelGap(30, 6*vg.Inch)); !reflect.DeepEqual(got, []int{29}) {
		t.Errorf("30 steps: annotations %v, want [29]", got)
	}

	// A long run is thinned so labels keep their distance.
	steps = fakeSteps(5*938, 0)
	bxy = xyOf(steps, false)
	longGap := labelGap(5*938, trainW)
	idx := annotationSteps(bxy, longGap)
	for k := 1; k < len(idx); k++ {
		if gap := bxy[idx[k]].X - bxy[idx[k-1]].X; gap < longGap {
			t.Errorf("labels at %v and %v are too close", bxy[idx[k-1]].X, bxy[idx[k]].X)
		}
	}
	if len(idx) < 10 {
		t.Errorf("long run: only %d labels", len(idx))
	}
}

func TestPlotClassAccuracy(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		acc  [metrics.NumClasses]float64
	}{
		{"mnist", [metrics.NumClasses]float64{0.9949, 0.9956, 0.9884, 0.9911, 0.9898, 0.9865, 0.9885, 0.9864, 0.9846, 0.9792}},
		{"with nan", [metrics.NumClasses]float64{0.99, math.NaN(), 0.98, 1, 0.97, 0.99, 0.99, 0.99, 0.99, 0.99}},
		{"all nan", [metrics.NumClasses]float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()}},
		{"untrained", [metrics.NumClasses]float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "acc"+strconv.Itoa(i)+".png")
			if err := PlotClassAccuracy(path, tt.acc, ""); err != nil {
				t.Fatal(err)
			}
			checkPNG(t, path, 800, 500)
		})
	}
}

func TestAccuracyAxisMin(t *testing.T) {
	tests := []struct {
		vals []float64
		want float64
	}{
		{[]float64{97.9, 99.6, 98.5}, 95},
		{[]float64{60, 95}, 40},
		{[]float64{10, 90}, 0},
		{[]float64{100, 100}, 95},
		{nil, 0},
	}
	for _, tt := range tests {
		if got := accuracyAxisMin(tt.vals); got != tt.want {
			t.Errorf("accuracyAxisMin(%v) = %v, want %v", tt.vals, got, tt.want)
		}
	}
}

// TestRenderSamples writes sample figures for a human to look at:
//
//	REPORT_SAMPLE_DIR=/tmp/report-sample go test ./internal/report -run RenderSamples
func TestRenderSamples(t *testing.T) {
	dir := os.Getenv("REPORT_SAMPLE_DIR")
	if dir == "" {
		t.Skip("set REPORT_SAMPLE_DIR to render sample figures")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	steps := fakeSteps(938, 50)
	if err := PlotLossCurves(filepath.Join(dir, "loss_curves.png"), steps, "mnistgpu: cuda, 1 epoch, batch 64"); err != nil {
		t.Fatal(err)
	}
	long := fakeSteps(5*938, 200)
	if err := PlotLossCurves(filepath.Join(dir, "loss_curves_5epochs.png"), long, "5 epochs"); err != nil {
		t.Fatal(err)
	}
	short := fakeSteps(120, 0)
	for i := range short {
		short[i].TestLoss = math.NaN()
	}
	if err := PlotLossCurves(filepath.Join(dir, "loss_curves_notest.png"), short, ""); err != nil {
		t.Fatal(err)
	}
	one := []metrics.Step{{Step: 1, Epoch: 1, BatchLoss: 2.3, RunningLoss: 2.3, RunningAcc: 0.1, TestLoss: 2.2}}
	if err := PlotLossCurves(filepath.Join(dir, "loss_curves_onestep.png"), one, "one step"); err != nil {
		t.Fatal(err)
	}
	bad := []metrics.Step{{Step: 1, Epoch: 1, BatchLoss: math.NaN(), RunningLoss: math.Inf(1), TestLoss: math.NaN()}}
	if err := PlotLossCurves(filepath.Join(dir, "loss_curves_nan.png"), bad, "diverged"); err != nil {
		t.Fatal(err)
	}
	acc := [metrics.NumClasses]float64{0.9949, 0.9956, 0.9884, 0.9911, 0.9898, 0.9865, 0.9885, 0.9864, 0.9846, 0.9792}
	if err := PlotClassAccuracy(filepath.Join(dir, "class_accuracy.png"), acc, "Test accuracy per class (99.0% overall)"); err != nil {
		t.Fatal(err)
	}
	acc[4] = math.NaN()
	if err := PlotClassAccuracy(filepath.Join(dir, "class_accuracy_nan.png"), acc, ""); err != nil {
		t.Fatal(err)
	}
}

// With --test-every 0 the one test point is the last step's: it must sit
// inside the panel, below the legend's corner, not under it.
func TestLonePointClearOfLegend(t *testing.T) {
	test := plotter.XYs{{X: 625, Y: 0.137}}
	p, err := testPanel(test, 1, 625, 50)
	if err != nil {
		t.Fatal(err)
	}
	if p.X.Max <= 625 {
		t.Errorf("x axis ends at %g: the last point would sit on the right edge, under the legend", p.X.Max)
	}
	if p.Y.Max < 1.3*0.137 {
		t.Errorf("y axis ends at %g: no room above the point %g for the legend", p.Y.Max, 0.137)
	}
	train, err := trainPanel(plotter.XYs{{X: 1, Y: 2.3}, {X: 625, Y: 3}}, nil, 625, 50)
	if err != nil {
		t.Fatal(err)
	}
	if train.Y.Max < 1.3*3 {
		t.Errorf("training panel's y axis ends at %g, at the highest point 3", train.Y.Max)
	}
}

// A test loss after every step draws a line, not hundreds of merging dots
// that bury the labels; a few evaluations (every 200 steps of an epoch:
// 4) keep their dots, and so does every-step on a run of a few dozen steps.
func TestDenseTestPointsDrawnAsLine(t *testing.T) {
	for n, want := range map[int]bool{1: true, 4: true, 47: true, 300: false, 938: false} {
		if got := drawTestDots(n); got != want {
			t.Errorf("%d test points: dots %v, want %v", n, got, want)
		}
	}
	dense := make(plotter.XYs, 938)
	for i := range dense {
		dense[i] = plotter.XY{X: float64(i + 1), Y: 1 / float64(i+1)}
	}
	if _, err := testPanel(dense, len(dense), 938, 50); err != nil {
		t.Fatal(err)
	}
}

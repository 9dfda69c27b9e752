package benchreport

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/mnistgpu/mnistgpu/internal/atomicfile"
	"github.com/mnistgpu/mnistgpu/internal/metrics"
)

const figureDPI = 100

// palette gives each kernel of the grid its colour, in grid order (the
// matplotlib defaults: blue, orange, green, red, purple).
var palette = []color.NRGBA{
	{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

func kernelColor(i int, alpha uint8) color.NRGBA {
	c := palette[i%len(palette)]
	c.A = alpha
	return c
}

var colorGrid = color.Gray{Y: 0xdd}

// meanCurves averages, step by step, the batch, running and test losses of
// runs (NaN and Inf left out); a step's point is the mean of the runs that
// have a finite value there.
func meanCurves(runs []Run) (batch, running, test plotter.XYs) {
	type acc struct{ batch, running, test []float64 }
	by := map[int]*acc{}
	for _, r := range runs {
		for _, s := range r.Steps {
			a := by[s.Step]
			if a == nil {
				a = &acc{}
				by[s.Step] = a
			}
			if finite(s.BatchLoss) {
				a.batch = append(a.batch, s.BatchLoss)
			}
			if finite(s.RunningLoss) {
				a.running = append(a.running, s.RunningLoss)
			}
			if s.HasTest() && finite(s.TestLoss) {
				a.test = append(a.test, s.TestLoss)
			}
		}
	}
	steps := make([]int, 0, len(by))
	for s := range by {
		steps = append(steps, s)
	}
	slices.Sort(steps)
	for _, s := range steps {
		a, x := by[s], float64(s)
		if len(a.batch) > 0 {
			batch = append(batch, plotter.XY{X: x, Y: Describe(a.batch).Mean})
		}
		if len(a.running) > 0 {
			running = append(running, plotter.XY{X: x, Y: Describe(a.running).Mean})
		}
		if len(a.test) > 0 {
			test = append(test, plotter.XY{X: x, Y: Describe(a.test).Mean})
		}
	}
	return batch, running, test
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// PlotLossCurves draws loss_curves.png: the original report's two figures in
// one, for every kernel. Left, the training loss per mini-batch (light) and
// its running epoch mean (solid); right, the test loss at the steps where it
// was evaluated. Each curve is the mean over the kernel's completed seeds.
func PlotLossCurves(path string, kernels []Kernel, title string) error {
	train, test := lossPlot("Training loss per mini-batch"), lossPlot("Test loss (inference mode)")
	lastStep := 1
	for i, k := range kernels {
		batch, running, testXY := meanCurves(k.Runs)
		name := fmt.Sprintf("k=%d", k.Kernel)
		if len(batch) > 0 {
			lastStep = max(lastStep, int(batch[len(batch)-1].X))
			if err := addLine(train, batch, kernelColor(i, 0x60), 0.7, name+" batch loss"); err != nil {
				return err
			}
		}
		if len(running) > 0 {
			if err := addLine(train, running, kernelColor(i, 0xff), 2, name+" running loss (epoch mean)"); err != nil {
				return err
			}
		}
		if seeds := seedTestPoints(k.Runs); len(seeds) > 0 && len(k.Runs) > 1 {
			s, err := plotter.NewScatter(seeds)
			if err != nil {
				return fmt.Errorf("benchreport: seeds' test losses of k=%d: %w", k.Kernel, err)
			}
			s.Color, s.Shape, s.Radius = kernelColor(i, 0x90), draw.RingGlyph{}, vg.Points(2.5)
			test.Add(s)
			test.Legend.Add(fmt.Sprintf("%s each seed", name), s)
		}
		if len(testXY) > 0 {
			l, pts, err := plotter.NewLinePoints(testXY)
			if err != nil {
				return fmt.Errorf("benchreport: test loss of k=%d: %w", k.Kernel, err)
			}
			l.Color, l.Width = kernelColor(i, 0xff), vg.Points(1.5)
			pts.Color, pts.Shape, pts.Radius = kernelColor(i, 0xff), draw.CircleGlyph{}, vg.Points(2.5)
			test.Add(l, pts)
			test.Legend.Add(name+" test loss", l, pts)
		}
	}
	for _, p := range []*plot.Plot{train, test} {
		// A little past the last step, so its point and label stay inside.
		p.X.Min, p.X.Max = 0, 1.04*float64(lastStep)
		p.Y.Min = 0
	}
	logScaleTest(test, kernels)
	img := vgimg.NewWith(vgimg.UseWH(12*vg.Inch, 5*vg.Inch), vgimg.UseDPI(figureDPI))
	c := titled(draw.New(img), title)
	const gutter = vg.Length(30)
	w := c.Max.X - c.Min.X - gutter
	train.Draw(draw.Crop(c, 0, -(0.4*w + gutter), 0, 0))
	test.Draw(draw.Crop(c, 0.6*w+gutter, 0, 0, 0))
	return writePNG(path, img)
}

// seedTestPoints are the test losses of every run at every evaluated step
// (finite and positive: the panel is logarithmic).
func seedTestPoints(runs []Run) plotter.XYs {
	var xy plotter.XYs
	for _, r := range runs {
		for _, s := range r.Steps {
			if s.HasTest() && finite(s.TestLoss) && s.TestLoss > 0 {
				xy = append(xy, plotter.XY{X: float64(s.Step), Y: s.TestLoss})
			}
		}
	}
	return xy
}

// logScaleTest puts the test panel on a log scale. In inference mode the
// first test losses are high (the batch-norm moving averages still hold
// their initial values: 4.8 at step 200 of an epoch) and the last ones near
// 0.05; on a linear axis every point after the first lies on the floor and
// the panel looks empty. Without any positive test loss it stays linear.
func logScaleTest(p *plot.Plot, kernels []Kernel) {
	lo, hi := math.Inf(1), 0.0
	for _, k := range kernels {
		for _, pt := range seedTestPoints(k.Runs) {
			lo, hi = math.Min(lo, pt.Y), math.Max(hi, pt.Y)
		}
	}
	if hi == 0 {
		return
	}
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	// Below the lowest point, and room above the highest for the legend.
	p.Y.Min, p.Y.Max = lo/1.5, hi*4
	p.Y.Label.Text = "loss (log scale)"
}

func lossPlot(title string) *plot.Plot {
	p := newPlot(title, "mini-batch", "loss", true)
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	return p
}

// newPlot is a plot with axis labels and a light grid: horizontal lines
// only over categories, both ways over a numeric x axis.
func newPlot(title, x, y string, numericX bool) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = x, y
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = nil, colorGrid
	if numericX {
		g.Vertical.Color = colorGrid
	}
	p.Add(g)
	return p
}

func addLine(p *plot.Plot, xy plotter.XYs, c color.Color, width float64, label string) error {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return fmt.Errorf("benchreport: %s: %w", label, err)
	}
	l.Color, l.Width = c, vg.Points(width)
	p.Add(l)
	p.Legend.Add(label, l)
	return nil
}

// PlotClassAccuracy draws class_accuracy.png: per class and kernel, the
// mean test accuracy over seeds (a filled point) with ± one standard
// deviation (error bars, from two seeds on) and every seed's own value
// (rings), so that the spread between seeds, the thing the kernel
// comparison is judged against, is visible. As in a run's figure the y axis
// starts a little below the weakest value, so differences of a point show;
// the axis label gives its start.
func PlotClassAccuracy(path string, kernels []Kernel, title string) error {
	p := newPlot(title, "class", "accuracy (%)", false)
	// The points reach the top of the axis, so the legend sits above the
	// plot, level with the title.
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, false
	legend.TextStyle.Font.Size = vg.Points(10)
	lo := 100.0
	rows := 0 // of the legend
	n := float64(max(len(kernels), 1))
	for i, k := range kernels {
		off := 0.5 * (float64(i) - (n-1)/2) / n // side by side within a class
		var means xyErrs
		var seeds plotter.XYs
		for c, st := range k.ClassAcc {
			x := float64(c) + off
			if finite(st.Mean) {
				sd := 0.0
				if finite(st.SD) {
					sd = 100 * st.SD
				}
				means.XYs = append(means.XYs, plotter.XY{X: x, Y: 100 * st.Mean})
				means.YErrors = append(means.YErrors, struct{ Low, High float64 }{sd, sd})
				lo = math.Min(lo, 100*st.Mean-sd)
			}
			for _, r := range k.Runs {
				if v := 100 * r.ClassAcc[c]; finite(v) {
					seeds = append(seeds, plotter.XY{X: x, Y: v})
					lo = math.Min(lo, v)
				}
			}
		}
		if len(means.XYs) == 0 {
			continue
		}
		col := kernelColor(i, 0xff)
		dots, err := plotter.NewScatter(means.XYs)
		if err != nil {
			return fmt.Errorf("benchreport: class accuracy of k=%d: %w", k.Kernel, err)
		}
		dots.Color, dots.Shape, dots.Radius = col, draw.CircleGlyph{}, vg.Points(4)
		bars, err := plotter.NewYErrorBars(means)
		if err != nil {
			return fmt.Errorf("benchreport: class accuracy spread of k=%d: %w", k.Kernel, err)
		}
		bars.Color, bars.Width, bars.CapWidth = col, vg.Points(1.5), vg.Points(8)
		p.Add(bars, dots)
		label := fmt.Sprintf("k=%d: mean of %d seeds", k.Kernel, len(k.Seeds))
		if len(k.Seeds) > 1 {
			label += " ± sd"
		}
		legend.Add(label, dots)
		rows++
		if len(k.Runs) > 1 {
			rings, err := plotter.NewScatter(seeds)
			if err != nil {
				return fmt.Errorf("benchreport: seeds' class accuracy of k=%d: %w", k.Kernel, err)
			}
			rings.Color, rings.Shape, rings.Radius = kernelColor(i, 0x90), draw.RingGlyph{}, vg.Points(3)
			p.Add(rings)
			legend.Add(fmt.Sprintf("k=%d: each seed", k.Kernel), rings)
			rows++
		}
	}
	names := make([]string, metrics.NumClasses)
	for c := range names {
		names[c] = fmt.Sprint(c)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(metrics.NumClasses)-0.5
	axisMin := math.Max(0, 5*math.Floor((lo-2)/5))
	p.Y.Min, p.Y.Max = axisMin, 100.5
	p.Y.Tick.Marker = niceTicks{}
	if axisMin > 0 {
		p.Y.Label.Text = fmt.Sprintf("accuracy (%%), axis from %g", axisMin)
	}
	img := vgimg.NewWith(vgimg.UseWH(10*vg.Inch, 5*vg.Inch), vgimg.UseDPI(figureDPI))
	c := draw.Crop(draw.New(img), vg.Points(4), -vg.Points(8), vg.Points(4), -vg.Points(4))
	legend.Draw(c)
	p.Draw(draw.Crop(c, 0, 0, 0, -vg.Points(14)*vg.Length(max(rows, 1))))
	return writePNG(path, img)
}

// xyErrs are points with symmetric y errors, as plotter.NewYErrorBars takes them.
type xyErrs struct {
	plotter.XYs
	plotter.YErrors
}

// niceTicks marks an axis every 1, 2 or 5 × 10^k, so that it has five to
// ten labelled ticks whatever its range (gonum's default can leave two).
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: fmt.Sprint(lo)}}
	}
	raw := (hi - lo) / 6
	step := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*step >= raw {
			step *= m
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ticks
}

// PlotTime draws time.png: each seed's time per epoch as a point above its
// kernel, and the kernel's median as a short bar.
func PlotTime(path string, kernels []Kernel, title string) error {
	p := newPlot(title, "", "seconds per epoch", false)
	names := make([]string, len(kernels))
	slowest := 1.0
	for i, k := range kernels {
		names[i] = fmt.Sprintf("k=%d", k.Kernel)
		if len(k.Runs) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(k.Runs))
		for j, r := range k.Runs {
			// Spread the seeds a little sideways so equal times stay visible.
			dx := 0.0
			if len(k.Runs) > 1 {
				dx = 0.2 * (float64(j)/float64(len(k.Runs)-1) - 0.5)
			}
			pts[j] = plotter.XY{X: float64(i) + dx, Y: r.EpochS()}
			slowest = math.Max(slowest, r.EpochS())
		}
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return fmt.Errorf("benchreport: times of k=%d: %w", k.Kernel, err)
		}
		s.Color, s.Shape, s.Radius = kernelColor(i, 0xff), draw.CircleGlyph{}, vg.Points(4)
		p.Add(s)
		med := plotter.XYs{{X: float64(i) - 0.2, Y: k.EpochS.Median}, {X: float64(i) + 0.2, Y: k.EpochS.Median}}
		if err := addLine(p, med, kernelColor(i, 0xff), 2, fmt.Sprintf("%s median %.1f s (%d seeds)", names[i], k.EpochS.Median, len(k.Runs))); err != nil {
			return err
		}
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(kernels))-0.5
	// Room above the slowest seed for the legend.
	p.Y.Min, p.Y.Max = 0, 1.25*slowest
	p.Y.Tick.Marker = niceTicks{}
	p.Legend.Top, p.Legend.Left = true, true
	img := vgimg.NewWith(vgimg.UseWH(6*vg.Inch, 5*vg.Inch), vgimg.UseDPI(figureDPI))
	p.Draw(draw.New(img))
	return writePNG(path, img)
}

// titled writes title at the top of c and returns the canvas below it.
func titled(c draw.Canvas, title string) draw.Canvas {
	p := plot.New()
	sty := p.Title.TextStyle
	sty.Font.Size = vg.Points(14)
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
	c.FillText(sty, vg.Point{X: c.Center().X, Y: c.Max.Y - vg.Points(4)}, title)
	return draw.Crop(c, vg.Points(6), -vg.Points(10), vg.Points(4), -(sty.Rectangle(title).Size().Y + vg.Points(12)))
}

// writePNG encodes img atomically to path.
func writePNG(path string, img *vgimg.Canvas) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	})
}

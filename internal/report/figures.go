package report

import (
	"cmp"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/mnistgpu/mnistgpu/internal/atomicfile"
	"github.com/mnistgpu/mnistgpu/internal/metrics"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Figure sizes. At figureDPI the PNGs are 1200x500 and 800x500 pixels.
const (
	figureDPI = 100

	lossWidth  = 12 * vg.Inch
	lossHeight = 5 * vg.Inch

	classWidth  = 8 * vg.Inch
	classHeight = 5 * vg.Inch
)

// Annotation font size; small enough that labels 50 mini-batches apart on a
// 938-step run do not run into each other.
const annotationSize vg.Length = 7 // points

var (
	// The batch loss is noisy and drawn underneath, so it is a light,
	// translucent blue that black annotations stay readable on.
	colorBatch   = color.NRGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0x70}
	colorRunning = color.NRGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff} // orange
	colorTest    = color.NRGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff} // red
	colorBar     = color.NRGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colorGrid    = color.Gray{Y: 0xdd}
	colorNote    = color.Gray{Y: 0x55}
)

// errNoSteps is returned when there is nothing to draw a loss curve from.
var errNoSteps = errors.New("report: no training steps to plot")

// PlotLossCurves draws loss_curves.png: two panels side by side (60/40 of the
// width) over the same x range (mini-batch). Left, "Training loss per
// mini-batch": the batch loss and the running (per-epoch mean) loss. Right,
// "Test loss": the test-set loss at the steps where it was evaluated. title,
// if not empty, is drawn above both panels.
//
// Values are annotated (3 decimals) as in the seed's figure: every 50
// mini-batches below step 600 and every 200 from 600 on, plus the last point,
// thinned where labels would collide (see labelGap; the narrower test panel
// of a one-epoch run gets a label every 100 steps below 600). NaN and Inf
// losses are left out of the plot. A run with no test evaluations gets a right
// panel that says so. Zero steps is an error.
func PlotLossCurves(path string, steps []metrics.Step, title string) error {
	if len(steps) == 0 {
		return errNoSteps
	}
	lastStep, evaluated := 0, 0
	var batch, running, test plotter.XYs
	for _, s := range steps {
		lastStep = max(lastStep, s.Step)
		x := float64(s.Step)
		if finite(s.BatchLoss) {
			batch = append(batch, plotter.XY{X: x, Y: s.BatchLoss})
		}
		if finite(s.RunningLoss) {
			running = append(running, plotter.XY{X: x, Y: s.RunningLoss})
		}
		if s.HasTest() {
			evaluated++
			if finite(s.TestLoss) {
				test = append(test, plotter.XY{X: x, Y: s.TestLoss})
			}
		}
	}

	// The lines and the annotation thinning assume step order.
	for _, xy := range []plotter.XYs{batch, running, test} {
		slices.SortStableFunc(xy, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
	}

	img := vgimg.NewWith(vgimg.UseWH(lossWidth, lossHeight), vgimg.UseDPI(figureDPI))
	dc := drawSuptitle(pad(draw.New(img)), title)
	left, right := lossLayout(dc)
	trainW, testW := left.Max.X-left.Min.X, right.Max.X-right.Min.X

	train, err := trainPanel(batch, running, lastStep, labelGap(lastStep, trainW))
	if err != nil {
		return err
	}
	testP, err := testPanel(test, evaluated, lastStep, labelGap(lastStep, testW))
	if err != nil {
		return err
	}
	train.Draw(left)
	testP.Draw(right)
	return writePNG(path, img)
}

// lossLayout splits c into the training (left) and test (right) panels. The
// training panel, with every mini-batch and a label each 50 steps, gets 60% of
// the width.
func lossLayout(c draw.Canvas) (left, right draw.Canvas) {
	const trainShare, gutter = 0.6, vg.Length(30) // gutter in points
	w := c.Max.X - c.Min.X - gutter
	trainW, testW := trainShare*w, (1-trainShare)*w
	return draw.Crop(c, 0, -(testW + gutter), 0, 0), draw.Crop(c, trainW+gutter, 0, 0, 0)
}

// trainPanel is the left panel of the loss figure.
func trainPanel(batch, running plotter.XYs, lastStep int, gap float64) (*plot.Plot, error) {
	p := newLossPlot("Training loss per mini-batch", lastStep)
	if len(batch) == 0 && len(running) == 0 {
		return p, addNote(p, "no finite training losses")
	}
	if len(batch) > 0 {
		l, err := plotter.NewLine(batch)
		if err != nil {
			return nil, fmt.Errorf("report: batch loss line: %w", err)
		}
		l.Color = colorBatch
		l.Width = vg.Points(0.8)
		p.Add(l)
		p.Legend.Add("batch loss", l)
	}
	if len(running) > 0 {
		l, err := plotter.NewLine(running)
		if err != nil {
			return nil, fmt.Errorf("report: running loss line: %w", err)
		}
		l.Color = colorRunning
		l.Width = vg.Points(1.8)
		p.Add(l)
		p.Legend.Add("running loss (epoch mean)", l)
	}
	// Annotate the batch loss, the quantity the panel is named after; fall
	// back to the running loss when every batch loss is NaN or Inf.
	annotated := batch
	if len(annotated) == 0 {
		annotated = running
	}
	if err := annotate(p, pick(annotated, annotationSteps(annotated, gap)), colorBatch); err != nil {
		return nil, err
	}
	p.Y.Min = 0 // cross-entropy is never negative; a zero baseline shows how far it fell
	leaveRoomForLegend(p, batch, running)
	return p, nil
}

// leaveRoomForLegend raises the top of the y axis above the highest point,
// so that the legend (top right) and the last point's label never cover
// data: with --test-every 0 the only test point sits at the right edge.
func leaveRoomForLegend(p *plot.Plot, series ...plotter.XYs) {
	top := 0.0
	for _, xy := range series {
		for _, pt := range xy {
			top = max(top, pt.Y)
		}
	}
	if top > 0 {
		p.Y.Max = legendHeadroom * top
	}
}

// drawTestDots says whether n test points get a dot each: up to 60, about
// one per 6 points of the test panel's width.
func drawTestDots(n int) bool { return n <= 60 }

// legendHeadroom is the y range over the highest point: the top quarter of
// a panel is left to the legend.
const legendHeadroom = 1.35

// testPanel is the right panel of the loss figure.
// evaluated counts the steps with a test loss, finite or not.
func testPanel(test plotter.XYs, evaluated, lastStep int, gap float64) (*plot.Plot, error) {
	p := newLossPlot("Test loss", lastStep)
	switch {
	case evaluated == 0:
		return p, addNote(p, "test set not evaluated")
	case len(test) == 0:
		return p, addNote(p, "no finite test losses")
	}
	l, pts, err := plotter.NewLinePoints(test)
	if err != nil {
		return nil, fmt.Errorf("report: test loss line: %w", err)
	}
	l.Color = colorTest
	l.Width = vg.Points(1.5)
	if !drawTestDots(len(test)) {
		// Evaluated every step or nearly: the dots would merge into a thick
		// band that hides the labels; the line alone shows the curve.
		p.Add(l)
		p.Legend.Add("test loss", l)
	} else {
		pts.Color = colorTest
		pts.Shape = draw.CircleGlyph{}
		pts.Radius = vg.Points(2.5)
		p.Add(l, pts)
		p.Legend.Add("test loss", l, pts)
	}

	idx := testAnnotationSteps(test, lastStep, gap)
	if err := annotate(p, pick(test, idx), colorTest); err != nil {
		return nil, err
	}
	p.Y.Min = 0
	leaveRoomForLegend(p, test)
	return p, nil
}

func newLossPlot(title string, lastStep int) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(12)
	p.X.Label.Text = "mini-batch"
	p.Y.Label.Text = "loss"
	// Both panels span the whole run so their x positions line up. A
	// one-step run is centred rather than drawn on the right edge, under the
	// legend.
	// The x axis runs a little past the last step, so that the last point
	// and its label stay inside the panel.
	p.X.Min, p.X.Max = 0, 1.04*float64(max(lastStep, 2))
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	g := plotter.NewGrid()
	g.Vertical.Color = colorGrid
	g.Horizontal.Color = colorGrid
	p.Add(g)
	return p
}

// addNote writes a grey message in the middle of an otherwise empty panel and
// fixes the y range, which would otherwise be undefined.
func addNote(p *plot.Plot, msg string) error {
	p.Y.Min, p.Y.Max = 0, 1
	p.Y.Tick.Marker = plot.ConstantTicks(nil) // a 0..1 scale here would mean nothing
	mid := (p.X.Min + p.X.Max) / 2
	l, err := plotter.NewLabels(plotter.XYLabels{
		XYs:    plotter.XYs{{X: mid, Y: 0.5}},
		Labels: []string{msg},
	})
	if err != nil {
		return fmt.Errorf("report: note %q: %w", msg, err)
	}
	l.TextStyle[0].Font.Size = vg.Points(12)
	l.TextStyle[0].Color = colorNote
	l.TextStyle[0].XAlign = draw.XCenter
	l.TextStyle[0].YAlign = draw.YCenter
	p.Add(l)
	return nil
}

// isMark is the seed figure's annotation rule for a 1-based step: every 50
// mini-batches below 600, every 200 from 600 on.
func isMark(step int) bool {
	if step < 600 {
		return step%50 == 0
	}
	return step%200 == 0
}

// labelGap is the smallest distance in steps between two annotations on a
// panel panelW wide: a 7-point "0.123" plus a margin (0.3 in) over the data
// area (the panel less about 0.7 in of y axis). On a one-epoch run (938 steps)
// the training panel's gap is about 46 steps, so the seed's every-50 rule is
// kept; on long runs, where 50 steps are a few pixels, labels are thinned.
func labelGap(lastStep int, panelW vg.Length) float64 {
	data := max(panelW-0.7*vg.Inch, vg.Inch)
	return float64(lastStep) * float64(0.3*vg.Inch/data)
}

// annotationSteps returns the indices of xy (sorted by X) to annotate: points
// on a mark step plus the last point, thinned so no two are closer than gap.
func annotationSteps(xy plotter.XYs, gap float64) []int {
	var idx []int
	for i, p := range xy {
		if isMark(int(p.X)) {
			idx = append(idx, i)
		}
	}
	if len(xy) > 0 {
		idx = append(idx, len(xy)-1)
	}
	return thin(xy, idx, gap)
}

// testAnnotationSteps picks the test points to annotate. With few points each
// gets a label; otherwise the point nearest each mark step does, plus the last
// (the final test loss), thinned so no two are closer than gap.
func testAnnotationSteps(xy plotter.XYs, lastStep int, gap float64) []int {
	const few = 12
	if len(xy) <= few {
		idx := make([]int, len(xy))
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	var idx []int
	for m := 1; m <= lastStep; m++ {
		if !isMark(m) {
			continue
		}
		idx = append(idx, nearest(xy, float64(m)))
	}
	idx = append(idx, len(xy)-1)
	return thin(xy, idx, gap)
}

// nearest returns the index of the point of xy (sorted by X) closest to x.
func nearest(xy plotter.XYs, x float64) int {
	best := 0
	for i, p := range xy {
		if math.Abs(p.X-x) < math.Abs(xy[best].X-x) {
			best = i
		}
	}
	return best
}

// thin drops duplicate indices and indices whose point lies closer than gap
// to the previously kept one, except that the last index wins over the one
// before it: the final value matters more than an intermediate mark.
func thin(xy plotter.XYs, idx []int, gap float64) []int {
	var out []int
	for _, i := range idx {
		if len(out) > 0 {
			prev := out[len(out)-1]
			if i == prev {
				continue
			}
			if xy[i].X-xy[prev].X < gap {
				if i != len(xy)-1 {
					continue
				}
				out = out[:len(out)-1]
			}
		}
		out = append(out, i)
	}
	return out
}

// pick returns the points of xy at idx.
func pick(xy plotter.XYs, idx []int) plotter.XYs {
	out := make(plotter.XYs, len(idx))
	for k, i := range idx {
		out[k] = xy[i]
	}
	return out
}

// annotate marks each point with a dot and writes its value (3 decimals)
// just above it.
func annotate(p *plot.Plot, pts plotter.XYs, c color.Color) error {
	if len(pts) == 0 {
		return nil
	}
	labels := make([]string, len(pts))
	for i, pt := range pts {
		labels[i] = fmt.Sprintf("%.3f", pt.Y)
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
	if err != nil {
		return fmt.Errorf("report: annotations: %w", err)
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Font.Size = annotationSize
		l.TextStyle[i].XAlign = draw.XCenter
		l.TextStyle[i].YAlign = draw.YBottom
	}
	l.Offset = vg.Point{Y: vg.Points(3)}
	dots, err := plotter.NewScatter(pts)
	if err != nil {
		return fmt.Errorf("report: annotation dots: %w", err)
	}
	dots.Shape = draw.CircleGlyph{}
	dots.Radius = vg.Points(1.8)
	dots.Color = darker(c)
	p.Add(dots, l)
	return nil
}

// PlotClassAccuracy draws class_accuracy.png: one bar per digit class with its
// accuracy in percent written above it (1 decimal). A class with no examples
// (NaN) is drawn as an empty bar labelled "n/a". An empty title gets a default.
//
// The y axis does NOT start at 0. On MNIST every class sits between roughly 97
// and 100%, and on a 0..100 axis all ten bars look the same height; starting a
// little below the worst class (see accuracyAxisMin) makes the differences
// visible. The axis label says so, and the printed values carry the numbers.
func PlotClassAccuracy(path string, acc [metrics.NumClasses]float64, title string) error {
	if title == "" {
		title = "Accuracy per class"
	}
	vals := make(plotter.Values, metrics.NumClasses)
	labels := make([]string, metrics.NumClasses)
	names := make([]string, metrics.NumClasses)
	finiteVals := make([]float64, 0, metrics.NumClasses)
	for i, a := range acc {
		names[i] = fmt.Sprint(i)
		if !finite(a) {
			labels[i] = "n/a"
			continue
		}
		vals[i] = 100 * a
		labels[i] = fmt.Sprintf("%.1f%%", 100*a)
		finiteVals = append(finiteVals, 100*a)
	}
	lo := accuracyAxisMin(finiteVals)

	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text = "class"
	p.Y.Label.Text = "accuracy (%)"
	if lo > 0 {
		p.Y.Label.Text = fmt.Sprintf("accuracy (%%), axis from %g", lo)
	}
	g := plotter.NewGrid()
	g.Vertical.Color = nil // no vertical lines between categories
	g.Horizontal.Color = colorGrid
	p.Add(g)

	bars, err := plotter.NewBarChart(vals, vg.Points(36))
	if err != nil {
		return fmt.Errorf("report: class accuracy bars: %w", err)
	}
	bars.Color = colorBar
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(names...)

	// Value labels sit on top of each bar; "n/a" sits just above the axis
	// floor, where a zero bar would otherwise fall out of view.
	pts := make(plotter.XYs, metrics.NumClasses)
	for i := range pts {
		y := vals[i]
		if labels[i] == "n/a" {
			y = lo
		}
		pts[i] = plotter.XY{X: float64(i), Y: y}
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
	if err != nil {
		return fmt.Errorf("report: class accuracy labels: %w", err)
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Font.Size = vg.Points(9)
		l.TextStyle[i].XAlign = draw.XCenter
		l.TextStyle[i].YAlign = draw.YBottom
	}
	l.Offset = vg.Point{Y: vg.Points(2)}
	p.Add(l)

	// Set after Add: the bars' data range would pull the minimum back to 0.
	p.Y.Min, p.Y.Max = lo, 100
	p.Y.Tick.Marker = percentTicks{}

	img := vgimg.NewWith(vgimg.UseWH(classWidth, classHeight), vgimg.UseDPI(figureDPI))
	p.Draw(pad(draw.New(img)))
	return writePNG(path, img)
}

// accuracyAxisMin is where the class accuracy axis starts, in percent: below
// the worst class by at least 2 points or half the spread of the classes,
// rounded down to a multiple of 5, and never below 0. Examples: classes in
// 97.9..99.6 give 95; in 60..95 give 40; in 10..90 give 0; no finite class
// gives 0.
func accuracyAxisMin(vals []float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		lo = math.Min(lo, v)
		hi = math.Max(hi, v)
	}
	margin := math.Max(2, (hi-lo)/2)
	return math.Max(0, 5*math.Floor((lo-margin)/5))
}

// percentTicks labels whole percentages: every 1 on a short axis, every 5 or
// 10 on longer ones, with a minor tick halfway between.
type percentTicks struct{}

func (percentTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 10.0
	switch {
	case hi-lo <= 10:
		step = 1
	case hi-lo <= 30:
		step = 5
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+1e-9; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		if v+step/2 <= hi {
			ticks = append(ticks, plot.Tick{Value: v + step/2})
		}
	}
	return ticks
}

// drawSuptitle writes title centred at the top of c and returns the canvas
// below it; with an empty title c is returned unchanged.
func drawSuptitle(c draw.Canvas, title string) draw.Canvas {
	if title == "" {
		return c
	}
	sty := text.Style{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, vg.Points(14)),
		XAlign:  draw.XCenter,
		YAlign:  draw.YTop,
		Handler: plot.DefaultTextHandler,
	}
	c.FillText(sty, vg.Point{X: c.Center().X, Y: c.Max.Y}, title)
	h := sty.Rectangle(title).Size().Y
	return draw.Crop(c, 0, 0, 0, -(h + vg.Points(8)))
}

// pad keeps titles and the rightmost labels off the edge of the image.
func pad(c draw.Canvas) draw.Canvas {
	return draw.Crop(c, vg.Points(6), -vg.Points(10), vg.Points(4), -vg.Points(8))
}

// writePNG encodes img atomically to path.
func writePNG(path string, img *vgimg.Canvas) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	})
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// darker returns c, opaque and at 70% brightness, for dots that must stand
// out from the line they sit on.
func darker(c color.Color) color.Color {
	r, g, b, a := c.RGBA()
	if a == 0 {
		return color.Black
	}
	// Un-premultiply, then darken.
	f := func(v uint32) uint8 { return uint8(float64(v) / float64(a) * 255 * 0.7) }
	return color.RGBA{R: f(r), G: f(g), B: f(b), A: 0xff}
}

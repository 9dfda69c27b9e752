package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/mnistgpu/mnistgpu/internal/atomicfile"
	"github.com/mnistgpu/mnistgpu/internal/metrics"
)

// metricsHeader is the header of metrics.csv, one column per metrics.Step field.
var metricsHeader = []string{"step", "epoch", "batch_loss", "running_loss", "running_acc", "test_loss", "test_acc"}

// formatFloat writes a metric with the shortest representation that parses
// back to the same float64 (strconv 'g', -1), so the CSV loses no precision.
// NaN and Inf are written as Go spells them ("NaN", "+Inf"); a diverged loss
// must stay visible rather than turn into an empty cell.
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// WriteMetricsCSV writes one row per mini-batch:
//
//	step,epoch,batch_loss,running_loss,running_acc,test_loss,test_acc
//
// Floats use strconv 'g' with the shortest exact precision. test_loss and
// test_acc are empty cells where the test set was not evaluated (NaN), which
// pandas reads as NaN.
func WriteMetricsCSV(path string, steps []metrics.Step) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(metricsHeader); err != nil {
			return err
		}
		for _, s := range steps {
			test, testAcc := "", ""
			if s.HasTest() {
				test, testAcc = formatFloat(s.TestLoss), formatFloat(s.TestAcc)
			}
			row := []string{
				strconv.Itoa(s.Step),
				strconv.Itoa(s.Epoch),
				formatFloat(s.BatchLoss),
				formatFloat(s.RunningLoss),
				formatFloat(s.RunningAcc),
				test,
				testAcc,
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// WriteClassAccuracyCSV writes the per-class accuracy as the seed's
// class_accuracy.csv did: a header "Class 0,...,Class 9" and one row of values.
//
// Values are FRACTIONS in 0..1 (not percent) with 4 decimals, e.g. 0.9918,
// matching the seed's pandas DataFrame of fractions. A class with no test
// examples (NaN) is an empty cell, as pandas' to_csv writes NaN.
func WriteClassAccuracyCSV(path string, acc [metrics.NumClasses]float64) error {
	header := make([]string, metrics.NumClasses)
	row := make([]string, metrics.NumClasses)
	for i, a := range acc {
		header[i] = fmt.Sprintf("Class %d", i)
		if !math.IsNaN(a) {
			row[i] = strconv.FormatFloat(a, 'f', 4, 64)
		}
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.WriteAll([][]string{header, row}); err != nil {
			return err
		}
		return cw.Error()
	})
}

// WriteConfusionCSV writes the confusion matrix with true classes as rows and
// predicted classes as columns:
//
//	true\pred,0,1,...,9
//	0,<count true 0 predicted 0>,...
func WriteConfusionCSV(path string, c *metrics.Confusion) error {
	if c == nil {
		return fmt.Errorf("report: confusion matrix for %s is nil", path)
	}
	rows := make([][]string, 0, metrics.NumClasses+1)
	header := []string{`true\pred`}
	for j := range metrics.NumClasses {
		header = append(header, strconv.Itoa(j))
	}
	rows = append(rows, header)
	for i := range c.Counts {
		row := []string{strconv.Itoa(i)}
		for _, n := range c.Counts[i] {
			row = append(row, strconv.Itoa(n))
		}
		rows = append(rows, row)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.WriteAll(rows); err != nil {
			return err
		}
		return cw.Error()
	})
}

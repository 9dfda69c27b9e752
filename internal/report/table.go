package report

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/mnistgpu/mnistgpu/internal/metrics"
)

// ClassTable writes a right-aligned plain-text table for the terminal: one row
// per true class with the number predicted correctly, the number of examples
// and the accuracy in percent (2 decimals), then an "all" row. A class with no
// examples shows "n/a".
//
//	class  correct  total  accuracy
//	    0      975    980    99.49%
//	  ...
//	  all     9912  10000    99.12%
func ClassTable(w io.Writer, c *metrics.Confusion) error {
	if c == nil {
		return fmt.Errorf("report: confusion matrix is nil")
	}
	// Every cell ends in a tab so AlignRight aligns the last column too.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "class\tcorrect\ttotal\taccuracy\t\n")
	allCorrect, allTotal := 0, 0
	for i := range c.Counts {
		total := 0
		for _, n := range c.Counts[i] {
			total += n
		}
		correct := c.Counts[i][i]
		allCorrect += correct
		allTotal += total
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t\n", i, correct, total, percent(correct, total))
	}
	fmt.Fprintf(tw, "all\t%d\t%d\t%s\t\n", allCorrect, allTotal, percent(allCorrect, allTotal))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("report: write class table: %w", err)
	}
	return nil
}

func percent(n, total int) string {
	if total == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(n)/float64(total))
}

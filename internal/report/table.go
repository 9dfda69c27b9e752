package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

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
	rows := [][4]string{{"class", "correct", "total", "accuracy"}}
	allCorrect, allTotal := 0, 0
	for i := range c.Counts {
		total := 0
		for _, n := range c.Counts[i] {
			total += n
		}
		correct := c.Counts[i][i]
		allCorrect += correct
		allTotal += total
		rows = append(rows, [4]string{strconv.Itoa(i), strconv.Itoa(correct), strconv.Itoa(total), percent(correct, total)})
	}
	rows = append(rows, [4]string{"all", strconv.Itoa(allCorrect), strconv.Itoa(allTotal), percent(allCorrect, allTotal)})

	var width [4]int
	for _, r := range rows {
		for j, cell := range r {
			width[j] = max(width[j], len(cell))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%*s  %*s  %*s  %*s\n", width[0], r[0], width[1], r[1], width[2], r[2], width[3], r[3])
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
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

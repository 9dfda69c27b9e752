// Package report writes the output files of a training run: metrics and
// accuracy tables as CSV, a JSON summary, PNG figures, and a plain-text class
// table for the terminal.
//
// Every file is written atomically (see internal/atomicfile), so an interrupted or
// failed run never leaves a half-written metrics.csv or a truncated PNG behind
// under the final name.
package report

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/mnistgpu/mnistgpu/internal/atomicfile"
)

// WriteJSON writes v as indented JSON with a trailing newline. Values JSON
// cannot represent (NaN, +Inf) make it fail without creating path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encode %s: %w", path, err)
	}
	b = append(b, '\n')
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// Package report writes the output files of a training run: metrics and
// accuracy tables as CSV, a JSON summary, PNG figures, and a plain-text class
// table for the terminal.
//
// Every file is written atomically (see WriteFileAtomic), so an interrupted or
// failed run never leaves a half-written metrics.csv or a truncated PNG behind
// under the final name.
package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes path with the bytes write produces. It writes a
// temporary file in the same directory (so the rename cannot cross file
// systems), flushes and fsyncs it, and renames it over path. On any error,
// including a panic in write, the temporary file is removed and path is left
// as it was: absent, or the previous complete file.
//
// The file is created with mode 0644. After the rename the directory is
// fsynced on a best-effort basis; a failure there is not reported, because the
// file is already complete under its final name.
func WriteFileAtomic(path string, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("report: create temp file for %s: %w", path, err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()      // may already be closed; the error is moot
			os.Remove(tmp) // best effort; the original error matters more
		}
	}()

	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("report: chmod %s: %w", tmp, err)
	}
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("report: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("report: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("report: rename %s to %s: %w", tmp, path, err)
	}
	done = true
	syncDir(dir)
	return nil
}

// syncDir makes a completed rename durable. Some platforms cannot fsync a
// directory; the file itself is already complete, so errors are ignored.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// WriteJSON writes v as indented JSON with a trailing newline. Values JSON
// cannot represent (NaN, +Inf) make it fail without creating path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encode %s: %w", path, err)
	}
	b = append(b, '\n')
	return WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// Package atomicfile writes files so that readers see either the previous
// contents or the complete new ones, never a part: every output of a run and
// every downloaded data file goes through it.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write writes path with the bytes write produces. It writes a
// temporary file in the same directory (so the rename cannot cross file
// systems), flushes and fsyncs it, and renames it over path. On any error,
// including a panic in write, the temporary file is removed and path is left
// as it was: absent, or the previous complete file.
//
// The file is created with mode 0644. After the rename the directory is
// fsynced on a best-effort basis; a failure there is not reported, because the
// file is already complete under its final name.
func Write(path string, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file for %s: %w", path, err)
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
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		return err // the writer's own error, which knows what went wrong
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, path, err)
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

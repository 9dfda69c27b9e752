//go:build unix

package mnist

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A data file that is a named pipe blocked the open (and a device would
// never end), out of reach of Ctrl-C. Now it is refused at once.
func TestNotRegularFile(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{TrainLabels: labelsGz(t, 3), TestImages: imagesGz(t, 3, Side, Side), TestLabels: labelsGz(t, 3)} {
		writeFile(t, filepath.Join(dir, name), data)
	}
	fifo := filepath.Join(dir, TrainImages)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for what, f := range map[string]func() error{
		"Load": func() error { _, _, err := Load(context.Background(), dir); return err },
		"LoadSet": func() error {
			_, err := LoadSet(context.Background(), fifo, filepath.Join(dir, TrainLabels))
			return err
		},
		"verify": func() error { _, _, err := verify(context.Background(), dir, nil); return err },
		// The pipe is not the fetch's to replace, and no source is asked.
		"fetch": func() error { return fetch(context.Background(), dir, FetchOptions{Sources: []Source{}}, nil) },
	} {
		err := within(t, 5*time.Second, what, f)
		var fe *FileError
		if !errors.Is(err, ErrNotRegular) || !errors.As(err, &fe) || fe.Path != fifo {
			t.Errorf("%s: %v, want ErrNotRegular naming %s", what, err, fifo)
		}
	}
	if info, err := os.Lstat(fifo); err != nil || info.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the named pipe was replaced or removed (%v)", err)
	}
}

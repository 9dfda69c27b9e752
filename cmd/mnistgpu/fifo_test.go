//go:build unix

package main

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mnistgpu/mnistgpu/internal/mnist"
)

// A data file that is a named pipe blocked the run, and the first Ctrl-C
// was ignored. Now it is one clear line at once.
func TestDataFileNotRegular(t *testing.T) {
	files := synthFiles(t)
	delete(files, mnist.TrainImages)
	data := writeDataDir(t, filepath.Join(t.TempDir(), "data"), files)
	fifo := filepath.Join(data, mnist.TrainImages)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	for name, args := range map[string][]string{
		"train":       tinyTrain(data, out),
		"data verify": {"data", "verify", "--data-dir", data},
		"data fetch":  {"data", "fetch", "--data-dir", data},
	} {
		t.Run(name, func(t *testing.T) {
			w := watch(t, nil, args...)
			done := make(chan result, 1)
			go func() { done <- w.finish() }()
			select {
			case r := <-done:
				wantOneError(t, r, fifo, "not a regular file", "named pipe")
			case <-time.After(10 * time.Second):
				w.signal(syscall.SIGKILL)
				t.Fatalf("%s still blocked on the named pipe after 10 s", name)
			}
		})
	}
}

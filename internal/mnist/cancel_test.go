package mnist

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// within runs f and fails the test if it takes longer than d: a stage that
// blocks must not hang the test suite either.
func within(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s still running after %v", what, d)
		return nil
	}
}

// Hashing and decompressing did not watch the context: a Ctrl-C waited for
// the whole file. A sparse 16 GiB file takes many seconds to hash; a
// cancelled hash must return within a second.
func TestHashHonoursCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), TrainImages)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(16 << 30); err != nil {
		f.Close()
		t.Skipf("no sparse 16 GiB file here: %v", err)
	}
	f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err = within(t, 10*time.Second, "hashing", func() error { return checkSum(ctx, path, "") })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("checkSum = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancelled hash returned after %v, want within a second", d)
	}
}

func TestLoadHonoursCancel(t *testing.T) {
	dir := t.TempDir()
	imgPath, lblPath := filepath.Join(dir, "img.gz"), filepath.Join(dir, "lbl.gz")
	writeFile(t, imgPath, imagesGz(t, 100, Side, Side))
	writeFile(t, lblPath, labelsGz(t, 100))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LoadSet(ctx, imgPath, lblPath); !errors.Is(err, context.Canceled) {
		t.Errorf("LoadSet with a cancelled context = %v, want context.Canceled", err)
	}
	if _, _, err := verify(ctx, dir, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("verify with a cancelled context = %v, want context.Canceled", err)
	}
}

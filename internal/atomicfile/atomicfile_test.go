package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/testfiles"
)

func TestWrite(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "out.txt")
		err := Write(path, func(w io.Writer) error {
			_, err := io.WriteString(w, "hello\n")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "hello\n" {
			t.Errorf("content = %q, want %q", got, "hello\n")
		}
		if names := testfiles.Names(t, dir); !reflect.DeepEqual(names, []string{"out.txt"}) {
			t.Errorf("dir = %v, want only out.txt (no temp left)", names)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
		}
	})

	t.Run("write error leaves nothing", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "out.txt")
		boom := errors.New("boom")
		err := Write(path, func(w io.Writer) error {
			// Enough to pass bufio's buffer, so bytes reach the temp file.
			w.Write(bytes.Repeat([]byte("x"), 10000))
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want wrapping %v", err, boom)
		}
		if names := testfiles.Names(t, dir); len(names) != 0 {
			t.Errorf("dir = %v, want empty", names)
		}
	})

	t.Run("write error keeps previous file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "out.txt")
		if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := Write(path, func(w io.Writer) error {
			io.WriteString(w, "new, half")
			return errors.New("boom")
		})
		if err == nil {
			t.Fatal("want error")
		}
		got, _ := os.ReadFile(path)
		if string(got) != "old" {
			t.Errorf("content = %q, want the previous %q", got, "old")
		}
		if names := testfiles.Names(t, dir); !reflect.DeepEqual(names, []string{"out.txt"}) {
			t.Errorf("dir = %v, want only out.txt", names)
		}
	})

	t.Run("panic leaves nothing", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "out.txt")
		func() {
			defer func() {
				if recover() == nil {
					t.Error("want the panic to propagate")
				}
			}()
			Write(path, func(w io.Writer) error { panic("boom") })
		}()
		if names := testfiles.Names(t, dir); len(names) != 0 {
			t.Errorf("dir = %v, want empty", names)
		}
	})

	t.Run("missing dir", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "no", "such", "out.txt")
		err := Write(path, func(w io.Writer) error { return nil })
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want os.ErrNotExist", err)
		}
	})
}

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/testfiles"
)

// Runs started in the same second, even at the same moment, get folders of
// their own: once, two default --out runs in one second shared a folder.
func TestNewRunDirUnique(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "runs")
	const runs = 8
	paths := make([]string, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			p, err := newRunDir(parent, "20261204-181500-k3-cpu")
			if err != nil {
				t.Error(err)
			}
			paths[i] = p
		})
	}
	wg.Wait()
	slices.Sort(paths)
	if len(slices.Compact(slices.Clone(paths))) != runs {
		t.Fatalf("%d runs got folders %v, want %d distinct", runs, paths, runs)
	}
	if got := len(testfiles.Names(t, parent)); got != runs {
		t.Errorf("%s holds %d folders, want %d", parent, got, runs)
	}
}

// plantRun fills dir with what looks like a finished run's folder.
func plantRun(t *testing.T, dir string, extra ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range append([]string{"summary.json", "model.ckpt", "metrics.csv", ".model.ckpt.tmp-123"}, extra...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("old run\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// --out naming a finished run's folder once mixed the new run's files with
// the old ones. Now it is refused before any work, unless --overwrite.
func TestOutFolderPolicy(t *testing.T) {
	data := synthDir(t)
	t.Run("refused", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "run")
		plantRun(t, out)
		before := testfiles.Names(t, out)
		r := mnistgpu(t, nil, "", tinyTrain(data, out)...)
		wantOneError(t, r, out, "already holds", "--overwrite")
		if strings.Contains(r.stderr, "training k=") {
			t.Errorf("training started before the folder was refused:\n%v", r)
		}
		if got := testfiles.Names(t, out); !slices.Equal(got, before) {
			t.Errorf("the old folder changed: %v, was %v", got, before)
		}
	})
	t.Run("bench refused", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "bench")
		plantRun(t, out, "bench.md")
		r := mnistgpu(t, nil, "", tinyBench(data, out)...)
		wantOneError(t, r, out, "already holds")
	})
	t.Run("overwrite replaces the folder whole", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "run")
		plantRun(t, out, "class_accuracy.png")
		// Every file is the new run's, and the old temporary file is gone.
		r := mnistgpu(t, nil, "", append(tinyTrain(data, out), "--overwrite", "--limit-train", "64")...)
		if r.code != 0 {
			t.Fatalf("train --overwrite failed:\n%v", r)
		}
		for _, name := range testfiles.Names(t, out) {
			if b, err := os.ReadFile(filepath.Join(out, name)); err != nil || bytes.Equal(b, []byte("old run\n")) {
				t.Errorf("%s is the old run's (err %v)", name, err)
			}
		}
		testfiles.AssertNoTemps(t, out)
		if names := testfiles.Names(t, filepath.Dir(out)); !slices.Equal(names, []string{"run"}) {
			t.Errorf("beside the run folder: %v, want it alone (the old run's files gone)", names)
		}
	})
	// --overwrite once deleted the old run's files before loading any data:
	// a run that then failed left the user with neither run. The old files
	// now stay until the new run has written something.
	t.Run("overwrite gives back the old run when the new one fails first", func(t *testing.T) {
		parent := t.TempDir()
		out := filepath.Join(parent, "run")
		plantRun(t, out, "class_accuracy.png")
		before := testfiles.Names(t, out)
		missing := filepath.Join(t.TempDir(), "no-data") // nothing to fetch it from: the run fails before training
		r := mnistgpu(t, nil, "", append(tinyTrain(missing, out), "--overwrite")...)
		if r.code != 1 {
			t.Fatalf("train --overwrite without data: exit %d, want 1:\n%v", r.code, r)
		}
		if got := testfiles.Names(t, out); !slices.Equal(got, before) {
			t.Errorf("the old run's folder holds %v, was %v", got, before)
		}
		if b, err := os.ReadFile(filepath.Join(out, "metrics.csv")); err != nil || !bytes.Equal(b, []byte("old run\n")) {
			t.Errorf("the old metrics.csv is not the old run's (err %v)", err)
		}
		if names := testfiles.Names(t, parent); !slices.Equal(names, []string{"run"}) {
			t.Errorf("beside the run folder: %v, want it alone", names)
		}
	})
	t.Run("overwrite keeps a folder with other files", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "run")
		plantRun(t, out, "notes.txt")
		r := mnistgpu(t, nil, "", append(tinyTrain(data, out), "--overwrite")...)
		wantOneError(t, r, out, "notes.txt", "no run writes")
		if _, err := os.Stat(filepath.Join(out, "notes.txt")); err != nil {
			t.Errorf("notes.txt is gone: %v", err)
		}
	})
	t.Run("an empty folder is taken", func(t *testing.T) {
		out := t.TempDir()
		if r := mnistgpu(t, nil, "", append(tinyTrain(data, out), "--limit-train", "64")...); r.code != 0 {
			t.Fatalf("train into an empty folder failed:\n%v", r)
		}
	})
}

// mnistgpuFileLimit runs the binary with files limited to blocks of 512
// bytes (ulimit -f), the way a disk that is full, or nearly, refuses writes.
func mnistgpuFileLimit(t *testing.T, blocks int, args ...string) result {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{"-c", fmt.Sprintf(`ulimit -f %d && exec "$0" "$@"`, blocks), binPath}, args...)...)
	cmd.Env, cmd.Dir = isolatedEnv(t), t.TempDir()
	return runCmd(t, cmd, args)
}

// A folder that takes no file was found only after training; now the run
// stops before loading any data.
func TestOutFolderNotWritable(t *testing.T) {
	data := synthDir(t)
	t.Run("no room", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "run")
		r := mnistgpuFileLimit(t, 0, tinyTrain(data, out)...)
		wantOneError(t, r, out, "cannot take a file")
		if strings.Contains(r.stderr, "training k=") {
			t.Errorf("training started:\n%v", r)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s was left behind", out)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes into read-only folders")
		}
		out := t.TempDir()
		if err := os.Chmod(out, 0o555); err != nil {
			t.Fatal(err)
		}
		r := mnistgpu(t, nil, "", tinyTrain(data, out)...)
		wantOneError(t, r, out, "not writable")
	})
}

// With a nearly full disk the first failed write stopped the rest, the
// results were never printed and summary.json said "completed" beside no
// model.ckpt. Now every file that fits is written, summary.json lists what
// is there, and the results still reach stdout.
func TestOutFolderNearlyFull(t *testing.T) {
	data := synthDir(t)
	out := filepath.Join(t.TempDir(), "run")
	// 512 KiB per file: the 4.9 MB checkpoint does not fit, the rest does.
	r := mnistgpuFileLimit(t, 1024, tinyTrain(data, out)...)
	if errs := r.errorLines(); r.code != 1 || len(errs) != 1 || !strings.Contains(errs[0], "model.ckpt: ") || !strings.Contains(errs[0], "file too large") {
		t.Errorf("want exit 1 and one error line naming model.ckpt and why:\n%v", r)
	}
	for _, w := range []string{"test:  loss", "per-class test accuracy", "outputs: " + out + " (incomplete"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	s := readSummary(t, out)
	var listed []string
	for _, f := range s["files"].([]any) {
		listed = append(listed, f.(string))
	}
	slices.Sort(listed)
	var present []string
	for _, name := range testfiles.Names(t, out) {
		if name != "summary.json" {
			present = append(present, name)
		}
	}
	if !slices.Equal(listed, present) {
		t.Errorf("summary.json lists %v, the folder holds %v", listed, present)
	}
	if slices.Contains(present, "model.ckpt") || len(present) != len(runFiles)-2 {
		t.Errorf("the folder holds %v, want every output but model.ckpt", present)
	}
	if we, _ := s["write_errors"].(map[string]any); we["model.ckpt"] == nil {
		t.Errorf("summary.json write_errors = %v, want model.ckpt's reason", s["write_errors"])
	}
	testfiles.AssertNoTemps(t, out)
}

// Two runs started at once on one --out both saw it empty and wrote into
// it. Now exactly one claims it.
func TestPrepareOutExclusive(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	const runs = 8
	errs := make([]error, runs)
	dirs := make([]outDir, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() { dirs[i], errs[i] = prepareOut(out, "", false) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
			defer dirs[i].release()
		case !strings.Contains(err.Error(), "in use") && !strings.Contains(err.Error(), "already holds"):
			t.Errorf("run %d: %v, want a refusal", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d runs claimed %s, want exactly 1 (errors %v)", won, out, errs)
	}
}

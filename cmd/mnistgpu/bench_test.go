package main

import (
	"bufio"
	"bytes"
	"context"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mnistgpu/mnistgpu/internal/benchreport"
	"github.com/mnistgpu/mnistgpu/internal/testfiles"
)

func TestBenchBadGrid(t *testing.T) {
	// A bad grid fails like any other bad flag: same exit code as train's.
	flagExit := mnistgpu(t, nil, "", "train", "--kernel", "4").code
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--kernels", "4"}, []string{"--kernels", "kernel size 4", "odd"}},
		{[]string{"--kernels", "3,4"}, []string{"--kernels", `"3,4"`, "kernel size 4", "odd"}},
		{[]string{"--kernels", "3,27"}, []string{"--kernels", "kernel size 27", "at most 25"}},
		{[]string{"--kernels", "0,3"}, []string{"--kernels", "kernel size 0"}},
		{[]string{"--kernels=-3"}, []string{"--kernels", "kernel size -3"}},
		{[]string{"--kernels", "3,5,3"}, []string{"--kernels", "kernel size 3", "twice"}},
		{[]string{"--kernels", ""}, []string{"--kernels", "empty list"}},
		{[]string{"--kernels", "3,,5"}, []string{"--kernels", "not a kernel size"}},
		{[]string{"--kernels", "three"}, []string{"--kernels", `"three"`, "not a kernel size"}},
		{[]string{"--seeds", "0"}, []string{"--seeds 0", "1 to 1000"}},
		{[]string{"--seeds=-2"}, []string{"--seeds -2", "1 to 1000"}},
		{[]string{"--seeds", "x"}, []string{"--seeds", "x"}},
		{[]string{"--epochs", "0"}, []string{"--epochs 0", "1 to 10000"}},
		{[]string{"--test-every=-1"}, []string{"--test-every", "-1"}},
		{[]string{"--device", "tpu"}, []string{"--device", "tpu"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Parallel()
			work := t.TempDir()
			r := mnistgpu(t, nil, work, append([]string{"bench"}, c.args...)...)
			wantOneError(t, r, c.want...)
			if r.code != flagExit {
				t.Errorf("exit %d, want %d as for train's flag errors", r.code, flagExit)
			}
			if names := testfiles.Names(t, work); len(names) != 0 {
				t.Errorf("a refused grid created %d entries in its working directory: %v", len(names), names)
			}
		})
	}
}

// tinyBench is a 2 kernel × 2 seed grid of two steps per run on the
// synthetic data, with the test loss after each step.
func tinyBench(dataDir, out string, extra ...string) []string {
	return append([]string{"bench", "--kernels", "3,5", "--seeds", "2", "--device", "cpu",
		"--limit-train", "128", "--limit-test", "64", "--batch-size", "64", "--test-every", "1",
		"--eval-batch", "64", "--out", out, "--data-dir", dataDir}, extra...)
}

func TestBenchEndToEnd(t *testing.T) {
	data := synthDir(t)
	out := filepath.Join(t.TempDir(), "bench")
	r := mnistgpu(t, nil, "", tinyBench(data, out)...)
	if r.code != 0 {
		t.Fatalf("bench failed:\n%v", r)
	}
	if errs := r.errorLines(); len(errs) != 0 {
		t.Errorf("a successful bench printed errors: %q", errs)
	}
	// The grid's progress and each run's own report on stderr; the
	// comparison, bench's result, on stdout.
	for _, w := range []string{"bench run 1/4: k=3 seed 1", "bench run 2/4: k=5 seed 1", "bench run 4/4: k=5 seed 2",
		"run=3/4 kernel=3 seed=2", "grid_eta=", "outputs: " + filepath.Join(out, "k3-seed1")} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	for _, w := range []string{"k=3: test accuracy ", "k=5 vs k=3: test accuracy difference", "bench outputs: " + out} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "bench run ") || strings.Contains(r.stdout, "msg=train") {
		t.Errorf("progress lines on stdout:\n%s", r.stdout)
	}

	// Each run's folder is what train writes.
	for _, run := range []struct {
		dir          string
		kernel, seed float64
	}{{"k3-seed1", 3, 1}, {"k5-seed1", 5, 1}, {"k3-seed2", 3, 2}, {"k5-seed2", 5, 2}} {
		dir := filepath.Join(out, run.dir)
		s := readSummary(t, dir)
		if s["kernel"] != run.kernel || s["seed"] != run.seed || s["status"] != "completed" || s["steps"] != 2.0 {
			t.Errorf("%s/summary.json: kernel %v seed %v status %v steps %v", run.dir, s["kernel"], s["seed"], s["status"], s["steps"])
		}
		for _, name := range []string{"metrics.csv", "class_accuracy.csv", "confusion_matrix.csv", "loss_curves.png", "class_accuracy.png", "model.ckpt"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("%s: %v", run.dir, err)
			}
		}
		testfiles.AssertNoTemps(t, dir)
	}
	// Seeds differ, so the same kernel's runs do too.
	if a, b := readSummary(t, filepath.Join(out, "k3-seed1")), readSummary(t, filepath.Join(out, "k3-seed2")); a["test_loss"] == b["test_loss"] {
		t.Errorf("k3 seeds 1 and 2 have the same test loss %v", a["test_loss"])
	}

	for _, name := range benchreport.Files {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("bench output %s: %v", name, err)
		}
	}
	for _, name := range []string{"loss_curves.png", "class_accuracy.png", "time.png"} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			continue
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		f.Close()
	}
	testfiles.AssertNoTemps(t, out)

	rows := testfiles.ReadCSV(t, filepath.Join(out, "bench.csv"))
	if len(rows) != 3 || rows[1][0] != "3" || rows[2][0] != "5" || rows[1][1] != "1;2" || rows[1][2] != "2" {
		t.Fatalf("bench.csv: %v", rows)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	// The statistics agree with the runs' own summaries.
	k5 := []map[string]any{readSummary(t, filepath.Join(out, "k5-seed1")), readSummary(t, filepath.Join(out, "k5-seed2"))}
	wantMean := (number(t, k5[0], "test_acc") + number(t, k5[1], "test_acc")) / 2
	if got := parseFloat(t, "bench.csv test_acc_mean", rows[2][col["test_acc_mean"]]); got-wantMean > 1e-12 || wantMean-got > 1e-12 {
		t.Errorf("k=5 test_acc_mean %v, want %v", got, wantMean)
	}
	for _, c := range []string{"epoch_s_median", "images_per_s_median", "eval_share_mean", "test_acc_sd", "train_acc_mean", "class_9_acc_mean"} {
		parseFloat(t, "bench.csv "+c, rows[1][col[c]])
	}
	if rows[1][col["device"]] != "cpu" || rows[1][col["partial"]] != "false" || rows[1][col["train_images"]] != "128" {
		t.Errorf("bench.csv settings: device %s partial %s train_images %s", rows[1][col["device"]], rows[1][col["partial"]], rows[1][col["train_images"]])
	}
	md, _ := os.ReadFile(filepath.Join(out, "bench.md"))
	for _, w := range []string{"| test accuracy, mean ± sd |", "Welch", "[k5-seed2](k5-seed2/)", "128 training / 64 test images"} {
		if !strings.Contains(string(md), w) {
			t.Errorf("bench.md lacks %q", w)
		}
	}
	if strings.Contains(string(md), "PARTIAL") {
		t.Error("a finished grid is marked partial")
	}
}

// Ctrl-C in the second run stops the grid, keeps the first run, records
// the second as interrupted, writes a partial report and exits 130.
func TestBenchInterrupt(t *testing.T) {
	data := synthDir(t)
	out := filepath.Join(t.TempDir(), "bench")
	// Each run: 2 epochs of 16 steps with a test pass every 2 steps, a few
	// seconds on two cores. Interrupt once the second run has logged a step.
	r := interruptAt(t, "msg=train run=2/4", "bench", "--kernels", "3,5", "--seeds", "2", "--device", "cpu",
		"--epochs", "2", "--limit-train", "256", "--limit-test", "64", "--batch-size", "16", "--test-every", "2",
		"--eval-batch", "64", "--skip-train-eval", "--out", out, "--data-dir", data)
	if r.code != 130 {
		t.Fatalf("exit %d, want 130:\n%v", r.code, r)
	}
	if errs := r.errorLines(); len(errs) != 1 || !strings.Contains(errs[0], "interrupted") {
		t.Errorf("want one error line saying interrupted:\n%v", r)
	}
	if strings.Contains(r.stderr, "bench run 3/4") {
		t.Errorf("the grid went on after Ctrl-C:\n%s", r.stderr)
	}
	if s := readSummary(t, filepath.Join(out, "k3-seed1")); s["status"] != "completed" {
		t.Errorf("the finished run's status is %v", s["status"])
	}
	if s := readSummary(t, filepath.Join(out, "k5-seed1")); s["status"] != "interrupted" {
		t.Errorf("the stopped run's status is %v", s["status"])
	}
	md, err := os.ReadFile(filepath.Join(out, "bench.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "PARTIAL: 1 of 4 runs completed (interrupted by Ctrl-C)") {
		t.Errorf("bench.md is not marked partial:\n%s", md)
	}
	rows := testfiles.ReadCSV(t, filepath.Join(out, "bench.csv"))
	if len(rows) != 3 || rows[1][2] != "1" || rows[2][2] != "0" || rows[1][len(rows[1])-1] != "true" {
		t.Errorf("bench.csv of the stopped grid: %v", rows)
	}
	if runs := testfiles.ReadCSV(t, filepath.Join(out, "runs.csv")); len(runs) != 3 || runs[2][2] != "interrupted" {
		t.Errorf("runs.csv of the stopped grid: %v", runs)
	}
	testfiles.AssertNoTemps(t, out)
}

// interruptAt runs the binary, sends SIGINT once a progress line (stderr)
// contains marker, and returns what the run did; it fails the test if the
// marker never shows or the process outlives the signal by 120 s.
func interruptAt(t *testing.T, marker string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env, cmd.Dir = isolatedEnv(t), t.TempDir()
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen bytes.Buffer
	lines := bufio.NewScanner(io.TeeReader(stderr, &seen))
	found := false
	for !found && lines.Scan() {
		found = strings.Contains(lines.Text(), marker)
	}
	if !found {
		err := cmd.Wait()
		t.Fatalf("no line with %q before the output ended (%v):\n%v", marker, err, result{stdout: stdout.String(), stderr: seen.String()})
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(&seen, stderr)
	_ = cmd.Wait()
	r := result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: seen.String()}
	assertNoPanic(t, r)
	if ctx.Err() != nil {
		t.Fatalf("still running 120 s after SIGINT:\n%v", r)
	}
	return r
}

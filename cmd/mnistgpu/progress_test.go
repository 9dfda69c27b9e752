package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chengxilo/virtualterm"
	"github.com/creack/pty"
)

// runInTerminal runs the binary with stdout and stderr on a pseudo-terminal,
// as a user's shell would, and returns everything written to it.
func runInTerminal(t *testing.T, cols uint16, args ...string) (raw string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env, cmd.Dir = isolatedEnv(t), t.TempDir()
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: cols})
	if err != nil {
		t.Fatalf("starting under a pseudo-terminal: %v", err)
	}
	defer tty.Close()
	var out bytes.Buffer
	// Linux reports EIO once the child has closed its end: that is the end.
	if _, err := io.Copy(&out, tty); err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatalf("reading the terminal: %v", err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("waiting for mnistgpu: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("still running after 120 s:\n%s", out.String())
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// On a terminal a run leaves what Keras' fit leaves: one line per epoch with
// its time, rate, loss and accuracy and its test loss and accuracy, then the
// results; the live bar is gone, and while it was live it said why the count
// stopped (each evaluation pass).
func TestProgressOnTerminal(t *testing.T) {
	data := synthDir(t)
	out := filepath.Join(t.TempDir(), "run")
	// 2 epochs of 8 steps with a test pass every 3 steps and the final passes.
	raw, code := runInTerminal(t, 200, "train", "--device", "cpu", "--epochs", "2", "--limit-train", "128", "--limit-test", "64",
		"--batch-size", "16", "--test-every", "3", "--eval-batch", "64", "--out", out, "--data-dir", data)
	screen, err := virtualterm.Process(raw)
	if err != nil {
		t.Fatalf("the terminal output cannot be rendered: %v\n%q", err, raw)
	}
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, screen)
	}
	epochLine := regexp.MustCompile(`^epoch (\d)/2 8/8  \d+\.\ds \d+ms/step  loss \d\.\d{4}  acc \d\.\d{4}  test_loss \d+\.\d{4}  test_acc \d\.\d{4}$`)
	var epochs []string
	lines := strings.Split(screen, "\n")
	for _, l := range lines {
		l = strings.TrimRight(l, " ")
		if m := epochLine.FindStringSubmatch(l); m != nil {
			epochs = append(epochs, m[1])
		}
		if strings.Contains(l, "%") && strings.Contains(l, "|") {
			t.Errorf("a progress bar is left on screen: %q", l)
		}
	}
	if strings.Join(epochs, ",") != "1,2" {
		t.Errorf("want one line per epoch (1 then 2) left on screen, found %v:\n%s", epochs, screen)
	}
	for _, w := range []string{"training k=3 on cpu", "test:  loss ", "per-class test accuracy:", "outputs: " + out} {
		if !strings.Contains(screen, w) {
			t.Errorf("the screen lacks %q:\n%s", w, screen)
		}
	}
	// The test loss of epoch 2's line is the final test pass's, as summary.json has it.
	s := readSummary(t, out)
	if want := fmt.Sprintf("%.4f", number(t, s, "test_loss")); !strings.Contains(screen, "epoch 2/2 8/8") || !strings.Contains(lineWith(screen, "epoch 2/2 8/8"), "test_loss "+want) {
		t.Errorf("epoch 2's line does not carry the final test loss %s:\n%s", want, screen)
	}
	// While live, the bar named each pass that stops the count.
	for _, reason := range []string{"starting: uploading the data", "| test pass…", "| final test pass…", "| final pass over the training set…"} {
		if !strings.Contains(raw, reason) {
			t.Errorf("the live bar never said %q", reason)
		}
	}
	if strings.Contains(raw, "step/hr") || strings.Contains(raw, "0 step/s") {
		t.Errorf("the live bar showed a meaningless rate:\n%q", raw)
	}
}

// Off a terminal (a pipe, a CI log) the same epoch lines come as log lines,
// with no carriage returns, and never with metrics not yet measured.
func TestProgressInLogs(t *testing.T) {
	data := synthDir(t)
	out := filepath.Join(t.TempDir(), "run")
	r := mnistgpu(t, nil, "", "train", "--device", "cpu", "--epochs", "2", "--limit-train", "128", "--limit-test", "64",
		"--batch-size", "16", "--test-every", "0", "--eval-batch", "64", "--skip-train-eval", "--out", out, "--data-dir", data)
	if r.code != 0 {
		t.Fatalf("train failed:\n%v", r)
	}
	if strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "NaN") {
		t.Errorf("log output with carriage returns or unmeasured metrics:\n%q", r.stderr)
	}
	for _, e := range []string{"1/2", "2/2"} {
		line := lineWith(r.stderr, "msg=epoch epoch="+e+" steps=8/8 ")
		if line == "" || !strings.Contains(line, " test_loss=") || !strings.Contains(line, " test_acc=") || !strings.Contains(line, " ms_per_step=") {
			t.Errorf("no complete log line for epoch %s:\n%s", e, r.stderr)
		}
	}
	if !strings.Contains(r.stderr, `msg=evaluating stage="final test pass"`) {
		t.Errorf("the final pass is not announced:\n%s", r.stderr)
	}
}

// On a narrow terminal the live bar is shortened to fit: a line that wraps
// cannot be redrawn in place and would leave a trail of copies.
func TestProgressFitsNarrowTerminal(t *testing.T) {
	data := synthDir(t)
	const cols = 60
	raw, code := runInTerminal(t, cols, "train", "--device", "cpu", "--limit-train", "64", "--limit-test", "32",
		"--batch-size", "16", "--test-every", "2", "--eval-batch", "32", "--skip-train-eval",
		"--out", filepath.Join(t.TempDir(), "run"), "--data-dir", data)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, raw)
	}
	frames := 0
	for _, seg := range strings.FieldsFunc(raw, func(r rune) bool { return r == '\r' || r == '\n' }) {
		if !strings.Contains(seg, "% |") {
			continue // a line that stays may wrap like any text
		}
		frames++
		if n := len([]rune(seg)); n >= cols {
			t.Errorf("a bar frame of %d columns on a %d-column terminal: %q", n, cols, seg)
		}
	}
	if frames == 0 {
		t.Errorf("no bar was drawn:\n%q", raw)
	}
}

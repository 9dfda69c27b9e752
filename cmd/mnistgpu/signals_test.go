package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mnistgpu/mnistgpu/internal/mnist"
	"github.com/mnistgpu/mnistgpu/internal/testfiles"
)

// watched is a running mnistgpu whose stderr the test reads line by line.
type watched struct {
	t      *testing.T
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stdout bytes.Buffer
	seen   bytes.Buffer
	stderr io.Reader
	lines  *bufio.Scanner
}

func watch(t *testing.T, env []string, args ...string) *watched {
	t.Helper()
	if env == nil {
		env = isolatedEnv(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	w := &watched{t: t, cancel: cancel}
	w.cmd = exec.CommandContext(ctx, binPath, args...)
	w.cmd.Env, w.cmd.Dir = env, t.TempDir()
	w.cmd.Stdout = &w.stdout
	pipe, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.stderr = io.TeeReader(pipe, &w.seen)
	w.lines = bufio.NewScanner(w.stderr)
	return w
}

// waitLine reads stderr up to a line that contains marker.
func (w *watched) waitLine(marker string) {
	w.t.Helper()
	for w.lines.Scan() {
		if strings.Contains(w.lines.Text(), marker) {
			return
		}
	}
	r := w.finish()
	w.t.Fatalf("no stderr line with %q:\n%v", marker, r)
}

func (w *watched) signal(sig os.Signal) {
	w.t.Helper()
	if err := w.cmd.Process.Signal(sig); err != nil {
		w.t.Fatal(err)
	}
}

// finish waits for the exit; a run that ignores its signal fails the test.
func (w *watched) finish() result {
	w.t.Helper()
	defer w.cancel()
	_, _ = io.Copy(io.Discard, w.stderr)
	_ = w.cmd.Wait()
	r := result{code: w.cmd.ProcessState.ExitCode(), stdout: w.stdout.String(), stderr: w.seen.String()}
	assertNoPanic(w.t, r)
	return r
}

// stallingProxy answers every request with the start of a large body and
// then nothing, like a proxy that hangs mid-download. Each request is
// announced on the returned channel.
func stallingProxy(t *testing.T) (url string, requests <-chan string) {
	t.Helper()
	got := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "12000000")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		got <- r.URL.Path
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, got
}

func envWithProxy(t *testing.T, proxy string) []string {
	return append(isolatedEnv(t), "GOPROXY="+proxy)
}

// wantInterrupted insists on exit 130 within about a second of the signal
// and one error line that says the run was interrupted.
func wantInterrupted(t *testing.T, r result, took time.Duration) {
	t.Helper()
	if r.code != 130 {
		t.Errorf("exit %d, want 130:\n%v", r.code, r)
	}
	if errs := r.errorLines(); len(errs) != 1 || !strings.Contains(errs[0], "interrupted") {
		t.Errorf("want one error line saying interrupted:\n%v", r)
	}
	if took > 2*time.Second {
		t.Errorf("exited %v after the signal, want about a second at most", took)
	}
}

// Ctrl-C during a fetch exited 1; SIGTERM, as a scheduler sends it, is the same.
func TestInterruptFetch(t *testing.T) {
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			proxy, requests := stallingProxy(t)
			dir := filepath.Join(t.TempDir(), "data")
			w := watch(t, envWithProxy(t, proxy), "data", "fetch", "--data-dir", dir)
			<-requests
			w.signal(sig)
			start := time.Now()
			r := w.finish()
			wantInterrupted(t, r, time.Since(start))
			testfiles.AssertNoTemps(t, dir)
		})
	}
}

// Ctrl-C while train fetched its data exited 1, or, once the data had
// loaded, wrote a checkpoint of untrained weights. Now nothing is written
// and the folder made for the run is taken back.
func TestInterruptTrainWhileLoading(t *testing.T) {
	proxy, requests := stallingProxy(t)
	out := filepath.Join(t.TempDir(), "run")
	w := watch(t, envWithProxy(t, proxy), "train", "--device", "cpu", "--out", out)
	<-requests
	w.signal(os.Interrupt)
	start := time.Now()
	r := w.finish()
	wantInterrupted(t, r, time.Since(start))
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s exists after a run stopped before training: %v", out, testfiles.Names(t, out))
	}
}

// Ctrl-C during eval exited 1.
func TestInterruptEval(t *testing.T) {
	// A test set large enough that a CPU pass takes seconds.
	files := synthFiles(t)
	testX, testY := synthSplit(4000, 3)
	files[mnist.TestImages] = idxGz(t, imagesMagic, []uint32{4000, mnist.Side, mnist.Side}, testX)
	files[mnist.TestLabels] = idxGz(t, labelsMagic, []uint32{4000}, testY)
	data := writeDataDir(t, filepath.Join(t.TempDir(), "data"), files)
	w := watch(t, nil, "eval", "--checkpoint", writeCheckpoint(t, 3), "--device", "cpu", "--eval-batch", "50", "--data-dir", data)
	w.waitLine("evaluating ")
	w.signal(os.Interrupt)
	start := time.Now()
	r := w.finish()
	wantInterrupted(t, r, time.Since(start))
	if strings.Contains(r.stdout, "test: loss") {
		t.Errorf("an interrupted eval reported results:\n%s", r.stdout)
	}
}

// A second Ctrl-C while the outputs were written killed the process
// mid-write, leaving temporary files and no summary.json. Now it waits
// until the files are whole.
func TestSecondInterruptWhileWriting(t *testing.T) {
	data := synthDir(t)
	out := filepath.Join(t.TempDir(), "run")
	w := watch(t, nil, "train", "--device", "cpu", "--epochs", "3", "--limit-test", "64", "--batch-size", "16",
		"--test-every", "2", "--eval-batch", "64", "--skip-train-eval", "--out", out, "--data-dir", data)
	w.waitLine("msg=train step=")
	w.signal(os.Interrupt)
	// The first output file (a temporary one) shows that the writing has
	// begun; the second signal comes then.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if writing(out) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no output appeared in %s:\n%v", out, w.finish())
		}
		time.Sleep(time.Millisecond)
	}
	w.signal(os.Interrupt)
	r := w.finish()
	if r.code != 130 {
		t.Errorf("exit %d, want 130:\n%v", r.code, r)
	}
	if s := readSummary(t, out); s["status"] != "interrupted" {
		t.Errorf("summary.json status = %v, want interrupted", s["status"])
	}
	testfiles.AssertNoTemps(t, out)
}

// writing reports whether out holds an output or its temporary file, not
// just the in-use marker a run leaves from its start.
func writing(out string) bool {
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if e.Name() != inUse && !strings.HasPrefix(e.Name(), ".write-check-") {
			return true
		}
	}
	return false
}

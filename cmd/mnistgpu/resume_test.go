package main

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mnistgpu/mnistgpu/internal/checkpoint"
	"github.com/mnistgpu/mnistgpu/internal/testfiles"
)

// resumable is a run long enough for a Ctrl-C to land in it: 3 epochs of
// 16 steps with a test pass every 2 steps (as TestTrainInterrupt).
func resumable(data string, extra ...string) []string {
	return append([]string{"train", "--device", "cpu", "--epochs", "3", "--limit-test", "64", "--batch-size", "16",
		"--test-every", "2", "--eval-batch", "64", "--skip-train-eval", "--data-dir", data}, extra...)
}

// TestResume: a run stopped by Ctrl-C, or killed outright after a
// --checkpoint-every checkpoint, and resumed ends with the metrics.csv and
// the weights of the same run left alone, to the bit. The killed run's
// folder keeps the claim of a process that is gone and the temporary file
// of a write it was killed in, which --resume clears;
// its checkpoint refuses other settings. A resumed run's checkpoint is a
// finished one, which --resume refuses.
func TestResume(t *testing.T) {
	data := synthDir(t)
	alone := filepath.Join(t.TempDir(), "alone")
	if r := mnistgpu(t, nil, "", resumable(data, "--out", alone)...); r.code != 0 {
		t.Fatalf("the run left alone: %s", r)
	}
	t.Run("Ctrl-C", func(t *testing.T) {
		stopped := filepath.Join(t.TempDir(), "stopped")
		r := interruptAt(t, "msg=train step=", resumable(data, "--out", stopped)...)
		if r.code != 130 {
			t.Fatalf("exit %d, want 130 (interrupted):\n%v", r.code, r)
		}
		if r := mnistgpu(t, nil, "", resumable(data, "--resume", stopped)...); r.code != 0 {
			t.Fatalf("resume: %s", r)
		}
		sameRun(t, alone, stopped)
		wantOneError(t, mnistgpu(t, nil, "", resumable(data, "--resume", stopped)...), "that run finished")
	})
	t.Run("kill -9", func(t *testing.T) {
		killed := filepath.Join(t.TempDir(), "killed")
		killAfterCheckpoint(t, resumable(data, "--out", killed, "--checkpoint-every", "3")...)
		h := readHeader(t, filepath.Join(killed, "model.ckpt"))
		if h.Training == nil || h.Meta["status"] != "in progress" || h.Training.Loop.Step%3 != 0 {
			t.Fatalf("the periodic checkpoint: status %v, training state %v", h.Meta["status"], h.Training != nil)
		}
		if _, err := os.Stat(filepath.Join(killed, inUse)); err != nil {
			t.Fatalf("the killed run left no claim: %v", err)
		}
		// As a kill in the middle of a checkpoint's write leaves it.
		if err := os.WriteFile(filepath.Join(killed, ".model.ckpt.tmp-123"), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
		wantOneError(t, mnistgpu(t, nil, "", resumable(data, "--resume", killed, "--batch-size", "32")...), "--batch-size 16 (this command: 32)")
		wantOneError(t, mnistgpu(t, nil, "", resumable(data, "--resume", killed, "--kernel", "5")...), "--kernel 3 (this command: 5)")
		if r := mnistgpu(t, nil, "", resumable(data, "--resume", killed)...); r.code != 0 {
			t.Fatalf("resume: %s", r)
		}
		sameRun(t, alone, killed)
	})
}

// killAfterCheckpoint starts a run and SIGKILLs it once its first periodic
// model.ckpt is there.
func killAfterCheckpoint(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env, cmd.Dir = isolatedEnv(t), t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(args[slices.Index(args, "--out")+1], "model.ckpt")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(ckpt); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("no periodic checkpoint within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	if err := cmd.Wait(); err == nil {
		t.Fatal("the run finished before it could be killed")
	}
}

// sameRun compares two run folders' metrics.csv and weights to the bit.
func sameRun(t *testing.T, want, got string) {
	t.Helper()
	w, _ := os.ReadFile(filepath.Join(want, "metrics.csv"))
	g, _ := os.ReadFile(filepath.Join(got, "metrics.csv"))
	if len(w) == 0 || !bytes.Equal(g, w) {
		t.Errorf("metrics.csv of the resumed run differs from the run left alone:\n%s\nwant:\n%s", g, w)
	}
	wantValues, gotValues := readValues(t, filepath.Join(want, "model.ckpt")), readValues(t, filepath.Join(got, "model.ckpt"))
	for name, v := range wantValues {
		for i := range v {
			if math.Float32bits(gotValues[name][i]) != math.Float32bits(v[i]) {
				t.Fatalf("%s[%d] = %v, the run left alone has %v", name, i, gotValues[name][i], v[i])
			}
		}
	}
	if s := readSummary(t, got); s["status"] != "completed" {
		t.Errorf("resumed run's status %v", s["status"])
	}
	testfiles.AssertNoTemps(t, got)
}

// TestResumeBadInput: each checkpoint a run cannot continue from gets one
// line and a non-zero exit.
func TestResumeBadInput(t *testing.T) {
	data := synthDir(t)
	run := filepath.Join(t.TempDir(), "run")
	// --checkpoint-every leaves a resumable checkpoint behind even when the
	// run then finishes; keep the one after step 2 of 4.
	args := []string{"train", "--device", "cpu", "--epochs", "1", "--limit-train", "64", "--limit-test", "32", "--batch-size", "16",
		"--test-every", "0", "--eval-batch", "32", "--skip-train-eval", "--data-dir", data}
	r := mnistgpu(t, nil, "", append(args, "--out", run, "--checkpoint-every", "2", "--epochs", "2")...)
	if r.code != 0 {
		t.Fatal(r)
	}
	finished := filepath.Join(run, "model.ckpt")
	// An interrupted run's checkpoint from before resumable ones: weights only.
	weightsOnly := filepath.Join(t.TempDir(), "model.ckpt")
	h, values, err := checkpoint.Read(bytes.NewReader(readBytes(t, writeCheckpoint(t, 3))))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	spec, _ := checkpoint.Check(h)
	if err := checkpoint.Write(&buf, spec, values, map[string]any{"status": "interrupted"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(weightsOnly, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(t.TempDir(), "model.ckpt")
	b, _ := os.ReadFile(finished)
	b[len(b)/3] ^= 4
	if err := os.WriteFile(corrupt, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		extra []string
		want  []string
	}{
		{"finished run", []string{"--resume", run}, []string{"that run finished"}},
		{"weights only", []string{"--resume", weightsOnly}, []string{"no training state"}},
		{"corrupt", []string{"--resume", corrupt}, []string{corrupt, "checksum mismatch"}},
		{"with --out", []string{"--resume", run, "--out", run}, []string{"--resume", "--out"}},
		{"missing", []string{"--resume", filepath.Join(run, "none.ckpt")}, []string{"none.ckpt"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantOneError(t, mnistgpu(t, nil, "", append(args, c.extra...)...), c.want...)
		})
	}
}

func readHeader(t *testing.T, path string) *checkpoint.Header {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, _, err := checkpoint.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func readValues(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, v, err := checkpoint.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Package scripts holds the tests of the shell and Python scripts beside
// them; it has no code of its own.
package scripts

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// stub writes an executable shell script named name into dir.
func stub(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/usr/bin/env bash\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// runCheck runs gpu-check.sh with the stubbed commands and returns its
// output and summary.txt. The limits stay the script's own (20 s and more):
// a stub that answers at once still takes seconds on a loaded 2-core
// machine, and a limit divided to 3 s once killed one. Only the step that
// hangs on purpose gets a short limit of its own.
func runCheck(t *testing.T, stubs map[string]string, out string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"gpu-check.sh"}, args...)...)
	cmd.Env = append(os.Environ(), "OUT="+out, "GPU_CHECK_LIMIT_k5_every1=2", "DATA="+t.TempDir())
	for k, v := range stubs {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gpu-check.sh %v: %v\n%s", args, err, output)
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.txt"))
	if err != nil {
		t.Fatalf("no summary.txt: %v\n%s", err, output)
	}
	return string(output), string(summary)
}

// The script's staging and fail-soft logic, with the GPU programs replaced
// by stubs: the op-parity tests fail, one epoch hangs, nvidia-smi is as slow
// as a loaded machine makes it and PyTorch is absent.
// Every later step must still run and be reported, the hanging one killed at
// its limit, the results written back whole and no more than 8 files left
// in $OUT; --stage 2 runs stage 2 only; a spent deadline skips steps.
func TestGPUCheckStagesAndFailSoft(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 here (the script's discovery, header check and comparison need it)")
	}
	if err := exec.Command("bash", "-n", "gpu-check.sh").Run(); err != nil {
		t.Fatalf("bash -n: %v", err)
	}
	bin := t.TempDir()
	stubs := map[string]string{
		"PYTHON":     python,
		"NVIDIA_SMI": stub(t, bin, "nvidia-smi", "sleep 3.5; echo 'NVIDIA H200, 580.00, 143771 MiB'\n"),
		"CUDA_TEST":  stub(t, bin, "cuda.test", "echo '--- PASS: TestKernelsCompileWithNVRTC'; echo ok\n"),
		"GPU_TEST":   stub(t, bin, "gpu.test", "echo '--- FAIL: TestParityConv'; echo 'y: 3 of 10 values off by more than 1e-03'; exit 1\n"),
		"MNISTGPU": stub(t, bin, "mnistgpu", `case $1 in
devices) echo "cuda backend: ready"; exit 0 ;;
--version) echo "mnistgpu (devel)"; exit 0 ;;
esac
out="" k=3 every=1
while [ $# -gt 0 ]; do
  case $1 in --out) out=$2; shift ;; --kernel) k=$2; shift ;; --test-every) every=$2; shift ;; esac
  shift
done
case $out in *k5-every1) sleep 60 ;; esac
mkdir -p "$out"
echo weights > "$out/model.ckpt"
echo '{"kernel": '$k', "test_every": '$every', "total_s": 1.5, "test_acc": 0.985, "test_loss": 0.04, "device_name": "stub GPU"}' > "$out/summary.json"
echo "test loss 0.04"
`),
	}
	out := t.TempDir()
	output, summary := runCheck(t, stubs, out)
	for _, want := range []string{
		`stage 1  facts\s+PASS`, `stage 1  devices\s+PASS`, `stage 1  nvrtc\s+PASS`,
		`stage 1  op-parity\s+FAIL .*exit status 1`,
		`stage 2  train-parity\s+FAIL`, `stage 2  k3-end\s+PASS`, `stage 2  k5-end\s+PASS`,
		`stage 2  k5-every1\s+TIMEOUT`,
		`stage 3  torch-k5-every1\s+FAIL`, `stage 3  torch-cudagraphs\s+FAIL`,
		`stage end  comparison\s+PASS`,
		`mnistgpu\s+k3-end\s+3\s+0\s+1\.50\s+0\.9850`,
		`pytorch\s+2026-11-27\s+3\s+1\s+23\.22`,
		`k=3 every=1: 1\.50s .* 0\.06x: MET`,
	} {
		if !regexp.MustCompile(want).MatchString(summary) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	if !strings.Contains(output, "y: 3 of 10 values off by") {
		t.Errorf("the first mismatches are not printed:\n%s", output)
	}
	files := 0
	_ = filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files++
		}
		return nil
	})
	if files > 8 {
		t.Errorf("%d files in $OUT, at most 8 come back", files)
	}
	names := tgzNames(t, filepath.Join(out, "results.tgz"))
	for _, want := range []string{"./op-parity.txt", "./k3-end/summary.json", "./summary.txt", "./comparison.txt"} {
		if !names[want] {
			t.Errorf("results.tgz lacks %s (has %v)", want, names)
		}
	}
	if names["./k3-end/model.ckpt"] {
		t.Error("results.tgz carries a checkpoint")
	}

	// The plan: every stage, nothing run, nothing written.
	plan, err := exec.Command("bash", "gpu-check.sh", "--dry-run").CombinedOutput()
	if err != nil || !strings.Contains(string(plan), "stage 1  op-parity") || !strings.Contains(string(plan), "stage 3  torch-cudagraphs") ||
		!strings.Contains(string(plan), "stage end  comparison") {
		t.Errorf("--dry-run: %v\n%s", err, plan)
	}

	// A rerun of stage 2 alone.
	out2 := t.TempDir()
	_, summary = runCheck(t, stubs, out2, "--stage", "2")
	if strings.Contains(summary, "stage 1 ") || strings.Contains(summary, "stage 3 ") || !strings.Contains(summary, "stage 2  k3-end") {
		t.Errorf("--stage 2 ran other stages or not its own:\n%s", summary)
	}

	// A deadline already spent: steps are skipped, not run, and still reported.
	stubs["GPU_CHECK_DEADLINE"] = "0"
	_, summary = runCheck(t, stubs, t.TempDir(), "--stage", "1")
	if !regexp.MustCompile(`stage 1  facts\s+SKIPPED`).MatchString(summary) {
		t.Errorf("with no time left, steps should be skipped:\n%s", summary)
	}
}

// Bad arguments, and limits that would end the script in an arithmetic
// error mid-stage (GPU_CHECK_SCALE=0 divided by zero), are refused before
// anything runs.
func TestGPUCheckRejectsBadArguments(t *testing.T) {
	for _, c := range []struct{ args, env []string }{
		{[]string{"--stage", "4"}, nil},
		{[]string{"--fast"}, nil},
		{[]string{"--dry-run"}, []string{"GPU_CHECK_SCALE=0"}},
		{[]string{"--dry-run"}, []string{"GPU_CHECK_DEADLINE=9m"}},
		{[]string{"--dry-run"}, []string{"GPU_CHECK_LIMIT_k3_end=1.5"}},
	} {
		cmd := exec.Command("bash", append([]string{"gpu-check.sh"}, c.args...)...)
		cmd.Env = append(os.Environ(), c.env...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || strings.Count(strings.TrimSpace(string(out)), "\n") > 1 {
			t.Errorf("%v %v: err %v, output %q; want exit 2 and a line naming the problem and the usage", c.env, c.args, err, out)
		}
	}
}

func tgzNames(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	r := tar.NewReader(z)
	for {
		h, err := r.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
}

// The script's discovery (libdirs) on a made-up site-packages: cuDNN's
// folder, then cuBLAS and NVRTC of one CUDA major, 13 when both are there.
func TestGPUCheckLibDirsOneMajor(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 here")
	}
	base := t.TempDir()
	out, err := exec.Command(python, "-c", "import sys; print(f'python{sys.version_info[0]}.{sys.version_info[1]}')").Output()
	if err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(base, "lib", strings.TrimSpace(string(out)), "site-packages", "nvidia")
	files := []string{"cu13/lib/libcublas.so.13", "cu13/lib/libnvrtc.so.13", "cudnn/lib/libcudnn.so.9",
		"cublas/lib/libcublas.so.12", "cuda_nvrtc/lib/libnvrtc.so.12"}
	for _, f := range files {
		p := filepath.Join(site, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	libdirs := func() string {
		cmd := exec.Command("bash", "-c", `source <(sed -n '/^libdirs() {/,/^}/p' gpu-check.sh); libdirs`)
		cmd.Env = append(os.Environ(), "PYTHONUSERBASE="+base, "PYTHON="+python)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("libdirs: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	dir := func(d string) string { return filepath.Join(site, d, "lib") }
	if got, want := libdirs(), dir("cudnn")+":"+dir("cu13"); got != want {
		t.Errorf("with CUDA 13 and 12: %q, want %q", got, want)
	}
	// NVRTC 13 gone: both cuBLAS and NVRTC from CUDA 12, never cuBLAS 13 beside NVRTC 12.
	if err := os.Remove(filepath.Join(site, "cu13/lib/libnvrtc.so.13")); err != nil {
		t.Fatal(err)
	}
	if got, want := libdirs(), dir("cudnn")+":"+dir("cublas")+":"+dir("cuda_nvrtc"); got != want {
		t.Errorf("with NVRTC 12 only: %q, want %q", got, want)
	}
}

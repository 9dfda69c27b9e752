package main

// These tests build the real binary once and run it, so they see what a user
// sees: exit codes, stdout and stderr, and the files a run leaves behind.
// The data is a small synthetic IDX set; nothing reads the network or the
// user's cache (every run gets its own XDG_CACHE_HOME and proxies that refuse).

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/mnist"
)

var binPath string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mnistgpu-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "mnistgpu")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building mnistgpu: %v\n", err)
		return 1
	}
	return m.Run()
}

// result is one finished run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// errorLines are the stderr lines that report an error (not warnings or
// fetch progress).
func (r result) errorLines() []string {
	var lines []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(l, "mnistgpu: error:") {
			lines = append(lines, l)
		}
	}
	return lines
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// isolatedEnv keeps a run off the network and out of the user's cache: the
// default data directory lives under a fresh XDG_CACHE_HOME, and both the
// module proxy and the HTTPS mirrors point at a port nothing listens on.
func isolatedEnv(t *testing.T) []string {
	t.Helper()
	return append(os.Environ(),
		"XDG_CACHE_HOME="+t.TempDir(),
		"GOPROXY=http://127.0.0.1:1",
		"HTTPS_PROXY=http://127.0.0.1:1",
		"HTTP_PROXY=http://127.0.0.1:1",
		"NO_PROXY=",
	)
}

// mnistgpu runs the binary in workDir (a fresh temp dir if "") and waits.
func mnistgpu(t *testing.T, env []string, workDir string, args ...string) result {
	t.Helper()
	if env == nil {
		env = isolatedEnv(t)
	}
	if workDir == "" {
		workDir = t.TempDir()
	}
	cmd := exec.Command(binPath, args...)
	cmd.Env, cmd.Dir = env, workDir
	return runCmd(t, cmd, args)
}

// runCmd runs a prepared command of the binary (args only name it in a
// failure) and collects its result.
func runCmd(t *testing.T, cmd *exec.Cmd, args []string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("running mnistgpu %v: %v", args, err)
	}
	assertNoPanic(t, r)
	return r
}

func assertNoPanic(t *testing.T, r result) {
	t.Helper()
	for _, s := range []string{"panic:", "goroutine "} {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Fatalf("output contains %q:\n%v", s, r)
		}
	}
}

// wantOneError insists on a non-zero exit and exactly one stderr line, an
// error line that mentions every one of want.
func wantOneError(t *testing.T, r result, want ...string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("exit 0, want failure:\n%v", r)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "mnistgpu: error: ") {
		t.Fatalf("stderr is %d line(s), want one starting with \"mnistgpu: error: \":\n%v", len(lines), r)
	}
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("error line %q does not mention %q", lines[0], w)
		}
	}
}

// IDX writing, as the four MNIST files are laid out.
const (
	imagesMagic = 0x00000803
	labelsMagic = 0x00000801
)

func idxGz(t *testing.T, magic uint32, dims []uint32, payload []byte) []byte {
	t.Helper()
	var raw bytes.Buffer
	_ = binary.Write(&raw, binary.BigEndian, magic)
	for _, d := range dims {
		_ = binary.Write(&raw, binary.BigEndian, d)
	}
	raw.Write(payload)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// synthSplit is n 28x28 images of noise with a bright bar whose row depends
// on the label (so there is something to learn), and labels cycling 0..9.
func synthSplit(n int, seed uint64) (pixels, labels []byte) {
	rng := rand.New(rand.NewPCG(seed, 2))
	side := mnist.Side
	pixels = make([]byte, n*side*side)
	labels = make([]byte, n)
	for i := range n {
		labels[i] = byte(i % 10)
		img := pixels[i*side*side : (i+1)*side*side]
		for j := range img {
			img[j] = byte(rng.IntN(64))
		}
		row := 3 + 2*int(labels[i])
		for c := 4; c < 24; c++ {
			img[row*side+c] = 255
		}
	}
	return pixels, labels
}

const (
	synthTrainN = 256
	synthTestN  = 128
)

// synthFiles are the four files of a small valid data set.
func synthFiles(t *testing.T) map[string][]byte {
	t.Helper()
	trainX, trainY := synthSplit(synthTrainN, 1)
	testX, testY := synthSplit(synthTestN, 2)
	side := uint32(mnist.Side)
	return map[string][]byte{
		mnist.TrainImages: idxGz(t, imagesMagic, []uint32{synthTrainN, side, side}, trainX),
		mnist.TrainLabels: idxGz(t, labelsMagic, []uint32{synthTrainN}, trainY),
		mnist.TestImages:  idxGz(t, imagesMagic, []uint32{synthTestN, side, side}, testX),
		mnist.TestLabels:  idxGz(t, labelsMagic, []uint32{synthTestN}, testY),
	}
}

func writeDataDir(t *testing.T, dir string, files map[string][]byte) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// synthDir writes a fresh synthetic data set and returns its folder.
func synthDir(t *testing.T) string {
	t.Helper()
	return writeDataDir(t, filepath.Join(t.TempDir(), "data"), synthFiles(t))
}

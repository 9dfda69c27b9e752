package main

import (
	"strings"
	"testing"
)

// devices names every library and either reports the backend ready or says
// what is missing and how to get it. Both exit 0: a machine without a GPU is
// the normal case, and only --require-gpu makes it a failure.
//
// A build without cgo (go test on a machine with no C compiler, or
// CGO_ENABLED=0) opens no library, so it names none: it says why instead.
// This test once failed there, and with it the README's `go test ./...`.
func TestDevices(t *testing.T) {
	r := mnistgpu(t, nil, "", "devices")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("devices should exit 0 with nothing on stderr, GPU or not:\n%v", r)
	}
	strict := mnistgpu(t, nil, "", "devices", "--require-gpu")
	if builtWithoutCgo(r) {
		if !strings.Contains(r.stdout, "rebuild with cgo and a C compiler") {
			t.Errorf("a build without cgo should say how to get CUDA support:\n%v", r)
		}
	} else {
		for _, lib := range []string{"CUDA driver:", "cuDNN:", "cuBLAS:", "NVRTC:", "cuda backend:"} {
			if !strings.Contains(r.stdout, lib) {
				t.Errorf("devices output lacks %q:\n%v", lib, r)
			}
		}
	}
	if strings.Contains(r.stdout, "cuda backend: ready") {
		if !strings.Contains(r.stdout, "GPU 0:") || strict.code != 0 {
			t.Errorf("a ready backend should list GPU 0 and pass --require-gpu:\n%v\n%v", r, strict)
		}
		return
	}
	if !builtWithoutCgo(r) && (!strings.Contains(r.stdout, "missing:") || !strings.Contains(r.stdout, "tried ")) {
		t.Errorf("an unavailable backend should list what is missing and what was tried:\n%v", r)
	}
	if last := lastLine(r.stdout); !strings.HasPrefix(last, "no usable GPU") {
		t.Errorf("the report should end with \"no usable GPU\", it ends with %q", last)
	}
	if strict.code != 1 {
		t.Errorf("devices --require-gpu without a GPU: exit %d, want 1", strict.code)
	}
	wantOneError(t, strict, "--require-gpu", "no usable GPU")
}

// builtWithoutCgo reports whether the devices report r comes from a binary
// with no CUDA support compiled in.
func builtWithoutCgo(r result) bool {
	return strings.Contains(r.stdout, "this build has no CUDA support")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// A folder named in MNISTGPU_CUDA_LIBS is searched first.
func TestDevicesSearchesLibDirsFirst(t *testing.T) {
	dir := t.TempDir()
	env := append(isolatedEnv(t), "MNISTGPU_CUDA_LIBS="+dir)
	r := mnistgpu(t, env, "", "devices")
	if strings.Contains(r.stdout, "cuda backend: ready") {
		t.Skip("a GPU is usable here; the search order is tested in gpu/internal/cuda")
	}
	if builtWithoutCgo(r) {
		t.Skip("built without cgo (no C compiler here): no library is looked for")
	}
	if !strings.Contains(r.stdout, "tried "+dir+"/libcudnn.so.9") {
		t.Errorf("devices did not try %s first:\n%v", dir, r)
	}
}

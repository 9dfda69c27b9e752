package main

import (
	"strings"
	"testing"
)

// devices names every library and either reports the backend ready (exit
// 0) or says what is missing and how to get it, with one error line.
func TestDevices(t *testing.T) {
	r := mnistgpu(t, nil, "", "devices")
	for _, lib := range []string{"CUDA driver:", "cuDNN:", "cuBLAS:", "NVRTC:", "cuda backend:"} {
		if !strings.Contains(r.stdout, lib) {
			t.Errorf("devices output lacks %q:\n%v", lib, r)
		}
	}
	if r.code == 0 {
		if !strings.Contains(r.stdout, "cuda backend: ready") || !strings.Contains(r.stdout, "GPU 0:") {
			t.Errorf("exit 0 without a ready GPU:\n%v", r)
		}
		return
	}
	wantOneError(t, r, "cuda backend unavailable")
	if !strings.Contains(r.stdout, "missing:") || !strings.Contains(r.stdout, "tried ") {
		t.Errorf("an unavailable backend should list what is missing and what was tried:\n%v", r)
	}
}

// A folder named in MNISTGPU_CUDA_LIBS is searched first.
func TestDevicesSearchesLibDirsFirst(t *testing.T) {
	dir := t.TempDir()
	env := append(isolatedEnv(t), "MNISTGPU_CUDA_LIBS="+dir)
	r := mnistgpu(t, env, "", "devices")
	if r.code == 0 {
		t.Skip("a GPU is usable here; the search order is tested in gpu/internal/cuda")
	}
	if !strings.Contains(r.stdout, "tried "+dir+"/libcudnn.so.9") {
		t.Errorf("devices did not try %s first:\n%v", dir, r)
	}
}

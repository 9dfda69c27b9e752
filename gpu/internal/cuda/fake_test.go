//go:build cgo

package cuda

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// fakeLibEnv names the fake library for the child process of
// TestCallsReachTheirFunctions; fakeFailEnv is read by the fake's functions.
const (
	fakeLibEnv  = "MNISTGPU_TEST_FAKE_LIB"
	fakeFailEnv = "FAKE_FAIL"
)

// fakeCode is the status the fake function name returns when told to fail.
func fakeCode(name string) int {
	for i, s := range symbols {
		if s.name == name {
			return 2000 + i
		}
	}
	return -1
}

// fakeLibrarySource is C for one library defining every function of
// symbols.h by name: each returns 0, or its own status code when
// $FAKE_FAIL names it. The error-string functions return a string.
func fakeLibrarySource() string {
	var b strings.Builder
	b.WriteString("#include <stdlib.h>\n#include <string.h>\n#include <stddef.h>\n")
	b.WriteString("static int fail(const char *n, int code) { const char *f = getenv(\"" + fakeFailEnv + "\"); return f && strcmp(f, n) == 0 ? code : 0; }\n")
	for _, s := range symbols {
		switch s.name {
		case "cudnnGetErrorString", "nvrtcGetErrorString":
			fmt.Fprintf(&b, "const char *%s(int s) { return \"fake\"; }\n", s.name)
		case "cudnnGetVersion":
			fmt.Fprintf(&b, "size_t %s(void) { return (size_t)fail(\"%[1]s\", %d); }\n", s.name, fakeCode(s.name))
		default:
			fmt.Fprintf(&b, "int %s() { return fail(\"%[1]s\", %d); }\n", s.name, fakeCode(s.name))
		}
	}
	return b.String()
}

// Every Go call reaches the C function it names, through symbols.h's slot
// and the C wrapper: with a fake library whose functions each return their
// own status, each call must fail with the status of the function it is
// meant to call. (In a child process: loading the fake replaces the slots.)
func TestCallsReachTheirFunctions(t *testing.T) {
	if os.Getenv(fakeLibEnv) != "" {
		callsReachTheirFunctions(t, os.Getenv(fakeLibEnv))
		return
	}
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc here to build the fake library")
	}
	dir := t.TempDir()
	src, lib := filepath.Join(dir, "fake.c"), filepath.Join(dir, "libfake.so")
	if err := os.WriteFile(src, []byte(fakeLibrarySource()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-std=gnu11", "-w", "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("building the fake library: %v\n%s", err, out)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestCallsReachTheirFunctions$", "-test.v")
	cmd.Env = append(os.Environ(), fakeLibEnv+"="+lib)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestCallsReachTheirFunctions") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func callsReachTheirFunctions(t *testing.T, lib string) {
	for _, l := range Libraries {
		if r := load(l, []string{lib}); r.Err != nil {
			t.Fatalf("%s from the fake: %v (%q)", l.Name, r.Err, r.Tried)
		}
	}
	ok := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("with nothing failing: %v", err)
		}
	}
	t.Setenv(fakeFailEnv, "")
	s, err := NewStream()
	ok(err)
	dnn, err := NewDNN(s)
	ok(err)
	blas, err := NewBLAS(s)
	ok(err)
	x, err := NewTensorDesc(TensorNHWC, 1, 1, 1, 1)
	ok(err)
	w, err := NewFilterDesc(TensorNHWC, 1, 1, 1, 1)
	ok(err)
	conv, err := NewConvDesc(0)
	ok(err)
	shape := ConvShape{X: x, Y: x, W: w, Conv: conv}
	m, err := LoadModule([]byte{0})
	ok(err)
	var buf [4]byte
	host := unsafe.Pointer(&buf[0])
	var args Args
	args.Reset()

	calls := []struct {
		fn   string
		call func() error
	}{
		{"cuInit", Init},
		{"cuDriverGetVersion", func() error { _, err := DriverVersion(); return err }},
		{"cuDeviceGetCount", func() error { _, err := DeviceCount(); return err }},
		{"cuDeviceGet", func() error { _, err := Device(0); return err }},
		{"cuDeviceGetName", func() error { _, err := Device(0); return err }},
		{"cuDeviceGetAttribute", func() error { _, err := Device(0); return err }},
		{"cuDeviceTotalMem_v2", func() error { _, err := Device(0); return err }},
		{"cuDevicePrimaryCtxRetain", func() error { return UsePrimaryContext(0) }},
		{"cuMemGetInfo_v2", func() error { _, _, err := MemInfo(); return err }},
		{"cuMemAlloc_v2", func() error { _, err := MemAlloc(4); return err }},
		{"cuMemFree_v2", func() error { return MemFree(1) }},
		{"cuStreamCreate", func() error { _, err := NewStream(); return err }},
		{"cuStreamSynchronize", s.Synchronize},
		{"cuMemcpyHtoDAsync_v2", func() error { return s.CopyToDevice(1, host, 4) }},
		{"cuMemcpyDtoHAsync_v2", func() error { return s.CopyToHost(host, 1, 4) }},
		{"cuMemcpyDtoDAsync_v2", func() error { return s.CopyDevice(1, 2, 4) }},
		{"cuMemsetD32Async", func() error { return s.Memset32(1, 0, 1) }},
		{"cuModuleLoadData", func() error { _, err := LoadModule([]byte{0}); return err }},
		{"cuModuleGetFunction", func() error { _, err := m.Function("k"); return err }},
		{"cuLaunchKernel", func() error { return s.Launch(Function{Name: "k"}, 1, 1, &args) }},
		{"cuModuleUnload", m.Unload},
		{"cuStreamDestroy_v2", s.Destroy},

		{"cudnnCreate", func() error { _, err := NewDNN(s); return err }},
		{"cudnnSetStream", func() error { _, err := NewDNN(s); return err }},
		{"cudnnCreateTensorDescriptor", func() error { _, err := NewTensorDesc(TensorNCHW, 1, 1, 1, 1); return err }},
		{"cudnnSetTensor4dDescriptor", func() error { _, err := NewTensorDesc(TensorNCHW, 1, 1, 1, 1); return err }},
		{"cudnnCreateFilterDescriptor", func() error { _, err := NewFilterDesc(TensorNHWC, 1, 1, 1, 1); return err }},
		{"cudnnSetFilter4dDescriptor", func() error { _, err := NewFilterDesc(TensorNHWC, 1, 1, 1, 1); return err }},
		{"cudnnCreateConvolutionDescriptor", func() error { _, err := NewConvDesc(1); return err }},
		{"cudnnSetConvolution2dDescriptor", func() error { _, err := NewConvDesc(1); return err }},
		{"cudnnSetConvolutionMathType", func() error { return conv.SetMathType(MathFMA) }},
		{"cudnnFindConvolutionForwardAlgorithm", func() error { _, err := dnn.Find(Forward, shape); return err }},
		{"cudnnFindConvolutionBackwardDataAlgorithm", func() error { _, err := dnn.Find(BackwardData, shape); return err }},
		{"cudnnFindConvolutionBackwardFilterAlgorithm", func() error { _, err := dnn.Find(BackwardFilter, shape); return err }},
		{"cudnnConvolutionForward", func() error { return dnn.Conv(Forward, shape, 0, 1, 2, 3, 0, 0) }},
		{"cudnnConvolutionBackwardData", func() error { return dnn.Conv(BackwardData, shape, 0, 1, 2, 3, 0, 0) }},
		{"cudnnConvolutionBackwardFilter", func() error { return dnn.Conv(BackwardFilter, shape, 0, 1, 2, 3, 0, 0) }},
		{"cudnnBatchNormalizationForwardTraining", func() error { return dnn.BatchNormTrain(x, x, 1, 2, 3, 4, 0, 0, 0, 1e-3, 5, 6) }},
		{"cudnnBatchNormalizationBackward", func() error { return dnn.BatchNormBackward(x, x, 1, 2, 3, 4, 5, 6, 1e-3, 7, 8) }},
		{"cudnnDestroyTensorDescriptor", x.Destroy},
		{"cudnnDestroyFilterDescriptor", w.Destroy},
		{"cudnnDestroyConvolutionDescriptor", conv.Destroy},
		{"cudnnDestroy", dnn.Destroy},

		{"cublasCreate_v2", func() error { _, err := NewBLAS(s); return err }},
		{"cublasSetStream_v2", func() error { _, err := NewBLAS(s); return err }},
		{"cublasGetProperty", func() error { _, err := CuBLASVersion(); return err }},
		{"cublasSgemm_v2", func() error { return blas.Sgemm(false, true, 1, 1, 1, 1, 1, 1, 2, 1, 0, 3, 1) }},
		{"cublasSgemv_v2", func() error { return blas.Sgemv(true, 1, 1, 1, 1, 1, 2, 0, 3) }},
		{"cublasDestroy_v2", blas.Destroy},

		{"nvrtcVersion", func() error { _, _, err := NVRTCVersion(); return err }},
		{"nvrtcGetNumSupportedArchs", func() error { _, err := SupportedArchs(); return err }},
		{"nvrtcCreateProgram", func() error { _, _, err := Compile("", "k.cu", nil, true); return err }},
		{"nvrtcCompileProgram", func() error { _, _, err := Compile("", "k.cu", nil, true); return err }},
		{"nvrtcGetCUBINSize", func() error { _, _, err := Compile("", "k.cu", nil, true); return err }},
		{"nvrtcGetPTXSize", func() error { _, _, err := Compile("", "k.cu", nil, false); return err }},
	}
	reached := map[string]bool{}
	for _, c := range calls {
		t.Setenv(fakeFailEnv, c.fn)
		err := c.call()
		var e *Error
		if !errors.As(err, &e) || e.Code != fakeCode(c.fn) {
			t.Errorf("with %s failing: got %v, want its status %d", c.fn, err, fakeCode(c.fn))
		}
		reached[c.fn] = true
	}
	t.Setenv(fakeFailEnv, "cudnnGetVersion")
	if v := CuDNNVersion(); v != fakeCode("cudnnGetVersion") {
		t.Errorf("CuDNNVersion() = %d, want %d", v, fakeCode("cudnnGetVersion"))
	}
	reached["cudnnGetVersion"] = true
	// Called only to build messages or to read outputs of a call that
	// succeeded, so their status never reaches the caller.
	for _, quiet := range []string{"cuCtxSetCurrent", "cuGetErrorName", "cuGetErrorString", "cudnnGetErrorString",
		"nvrtcGetErrorString", "nvrtcGetSupportedArchs", "nvrtcGetProgramLogSize", "nvrtcGetProgramLog",
		"nvrtcGetCUBIN", "nvrtcGetPTX", "nvrtcDestroyProgram"} {
		reached[quiet] = true
	}
	for _, s := range symbols {
		if !reached[s.name] {
			t.Errorf("%s: no call checked", s.name)
		}
	}
}

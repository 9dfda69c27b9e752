//go:build cgo

package cuda

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/mnistgpu/mnistgpu/kernels"
)

func TestSymbolTableMatchesSlots(t *testing.T) {
	if len(symbols) != symbolSlots() {
		t.Fatalf("%d symbol names for %d C slots", len(symbols), symbolSlots())
	}
	for _, s := range symbols {
		if !slices.Contains(Libraries, s.lib) {
			t.Errorf("%s belongs to no known library", s.name)
		}
	}
}

func TestLoadReportsWhatIsMissing(t *testing.T) {
	lib := &Library{Name: "Imaginary", Sonames: []string{"libimaginary-mnistgpu.so.1"}, Hint: "install imaginary"}
	l := load(lib, []string{"/nonexistent/libimaginary-mnistgpu.so.1", "libimaginary-mnistgpu.so.1"})
	if l.Err == nil || l.Path != "" {
		t.Fatalf("load of a missing library: path %q, err %v", l.Path, l.Err)
	}
	if len(l.Tried) != 2 {
		t.Errorf("tried = %q, want one failure per candidate", l.Tried)
	}
	for _, want := range []string{"Imaginary not found", "libimaginary-mnistgpu.so.1", "install imaginary"} {
		if !strings.Contains(l.Err.Error(), want) {
			t.Errorf("error %q lacks %q", l.Err, want)
		}
	}
}

// A library that opens but lacks the functions we call is rejected with
// their names (here: the C library, which has none of cuDNN's).
func TestLoadRejectsWrongLibrary(t *testing.T) {
	lib := &CuDNN
	l := load(lib, []string{"libc.so.6"})
	if l.Err == nil || len(l.Tried) != 1 || !strings.Contains(l.Tried[0], "lacks cudnnGetVersion") {
		t.Fatalf("libc as cuDNN: err %v, tried %q", l.Err, l.Tried)
	}
	delete(loaded, lib)
}

// The kernels compile with the NVRTC found here (MNISTGPU_CUDA_LIBS or the
// usual places); CPU-only machines without NVRTC skip. NVRTC needs no GPU.
func TestKernelsCompileWithNVRTC(t *testing.T) {
	l := Load(&NVRTC)
	if l.Err != nil {
		if Required() {
			t.Fatalf("no NVRTC here (%s=1): %v", RequireEnv, l.Err)
		}
		t.Skipf("no NVRTC here: %v", l.Err)
	}
	major, minor, err := NVRTCVersion()
	if err != nil {
		t.Fatal(err)
	}
	archs, err := SupportedArchs()
	if err != nil || len(archs) == 0 {
		t.Fatalf("supported archs %v, %v", archs, err)
	}
	arch := archs[len(archs)-1]
	t.Logf("NVRTC %d.%d at %s, compiling for sm_%d", major, minor, l.Path, arch)
	for _, cubin := range []bool{true, false} {
		opt := "--gpu-architecture=compute_" + strconv.Itoa(arch)
		if cubin {
			opt = "--gpu-architecture=sm_" + strconv.Itoa(arch)
		}
		image, log, err := Compile(kernels.Source, "kernels.cu", []string{opt}, cubin)
		if err != nil {
			t.Fatalf("%s: %v", opt, err)
		}
		if log != "" {
			t.Errorf("%s: compiler log not empty:\n%s", opt, log)
		}
		if len(image) == 0 {
			t.Fatalf("%s: empty image", opt)
		}
		if !cubin {
			for _, name := range kernels.Names {
				if !strings.Contains(string(image), ".entry "+name+"(") {
					t.Errorf("PTX lacks entry %s", name)
				}
			}
		}
	}
	_, _, err = Compile("#line 1 \"broken.cu\"\nextern \"C\" __global__ void broken( { }", "broken.cu", []string{"--gpu-architecture=compute_" + strconv.Itoa(arch)}, false)
	if err == nil || !strings.Contains(err.Error(), "NVRTC_ERROR_COMPILATION") || !strings.Contains(err.Error(), "broken.cu") {
		t.Errorf("a compile error should carry NVRTC's status and log, got %v", err)
	}
}

// Kernel arguments sit at their natural alignment, in order, with the
// values written as the kernel will read them.
func TestArgsPacking(t *testing.T) {
	var a Args
	a.Reset()
	a.Ptr(0x1122334455667788).Int(-7).Ptr(42).Float(1.5).Int(3).Int64(1 << 40)
	if a.err != nil {
		t.Fatal(a.err)
	}
	wantOff := []int{0, 8, 16, 24, 28, 32}
	if a.n != len(wantOff) {
		t.Fatalf("%d arguments, want %d", a.n, len(wantOff))
	}
	for i, w := range wantOff {
		if int(a.off[i]) != w {
			t.Errorf("argument %d at offset %d, want %d", i, a.off[i], w)
		}
	}
	if got := *(*uint64)(unsafe.Pointer(&a.buf[0])); got != 0x1122334455667788 {
		t.Errorf("pointer argument reads %#x", got)
	}
	if got := *(*int32)(unsafe.Pointer(&a.buf[8])); got != -7 {
		t.Errorf("int argument reads %d", got)
	}
	if got := *(*float32)(unsafe.Pointer(&a.buf[24])); got != 1.5 {
		t.Errorf("float argument reads %g", got)
	}
	if got := *(*int64)(unsafe.Pointer(&a.buf[32])); got != 1<<40 {
		t.Errorf("int64 argument reads %d", got)
	}
	a.Reset()
	for range 40 {
		a.Int(1)
	}
	if a.err == nil {
		t.Error("40 arguments should not fit")
	}
}

//go:build cgo

package cuda

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/mnistgpu/mnistgpu/kernels"
)

// symbols.h's library column: a function listed under the wrong library
// would be looked up in the wrong file (and the backend would not start).
func TestSymbolTable(t *testing.T) {
	prefix := map[*Library]string{&Driver: "cu", &CuDNN: "cudnn", &CuBLAS: "cublas", &NVRTC: "nvrtc"}
	seen := map[string]bool{}
	for slot, s := range symbols {
		if s.lib == nil {
			t.Errorf("slot %d (%s) belongs to no known library", slot, s.name)
			continue
		}
		p := prefix[s.lib]
		if !strings.HasPrefix(s.name, p) || (s.lib == &Driver && (strings.HasPrefix(s.name, "cudnn") || strings.HasPrefix(s.name, "cublas"))) {
			t.Errorf("slot %d: %s listed under %s", slot, s.name, s.lib.Name)
		}
		if seen[s.name] {
			t.Errorf("%s listed twice", s.name)
		}
		seen[s.name] = true
	}
	if len(symbols) < 60 {
		t.Errorf("only %d symbols read from the C side", len(symbols))
	}
}

// The three convolution passes pick their Find and run functions by slot
// from convCalls: each slot must hold the function the entry names.
func TestConvCallSlots(t *testing.T) {
	for pass, c := range convCalls {
		if got := symbols[c.findSlot].name; got != c.find {
			t.Errorf("pass %d: find slot holds %s, entry names %s", pass, got, c.find)
		}
		if got := symbols[c.runSlot].name; got != c.run {
			t.Errorf("pass %d: run slot holds %s, entry names %s", pass, got, c.run)
		}
	}
}

// Every C wrapper mg_X calls the slot of the function it is named after
// (X, or X_v2): a wrapper that called its neighbour's slot would compile and
// call the wrong function on the GPU machine. Wrappers that choose between
// two slots (cond ? S_a : S_b) must put the one the condition names first.
// Every symbol is called by some wrapper or convCalls.
func TestWrappersCallTheirOwnSlot(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "shim.h")
	var c strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(b)
	}
	src := c.String()
	used := map[string]bool{}
	for _, cc := range convCalls {
		used[cc.find], used[cc.run] = true, true
	}
	wrapper := regexp.MustCompile(`(?m)^static [^;{(]*\bmg_(\w+)\([^)]*\)\s*\{`)
	slotRef := regexp.MustCompile(`\bS_(\w+)`)
	choice := regexp.MustCompile(`(\w+) \? S_(\w+) : S_(\w+)`)
	wrappers := 0
	for _, m := range wrapper.FindAllStringSubmatchIndex(src, -1) {
		name, body := src[m[2]:m[3]], braceBody(src[m[1]-1:])
		if strings.Contains(body, "ENSURE_CTX") {
			used["cuCtxSetCurrent"] = true
		}
		var slots []string
		for _, r := range slotRef.FindAllStringSubmatch(body, -1) {
			if r[1] != "COUNT" && !slices.Contains(slots, r[1]) {
				slots = append(slots, r[1])
			}
		}
		for _, s := range slots {
			used[s] = true
		}
		wrappers++
		if ch := choice.FindStringSubmatch(body); ch != nil {
			if !strings.Contains(strings.ToLower(ch[2]), strings.ToLower(ch[1])) {
				t.Errorf("mg_%s: %s ? S_%s : S_%s takes the second when %s", name, ch[1], ch[2], ch[3], ch[1])
			}
			continue
		}
		switch len(slots) {
		case 0: // takes its slot as an argument (convCalls) or calls no library
		case 1:
			if s := slots[0]; s != name && s != name+"_v2" {
				t.Errorf("mg_%s calls S_%s", name, s)
			}
		default:
			t.Errorf("mg_%s calls several slots %v", name, slots)
		}
	}
	if wrappers < 60 {
		t.Fatalf("found only %d wrappers: the pattern no longer matches the sources", wrappers)
	}
	for _, s := range symbols {
		if !used[s.name] {
			t.Errorf("%s is resolved but no wrapper calls it", s.name)
		}
	}
}

// braceBody returns s from its first '{' to the matching '}'.
func braceBody(s string) string {
	depth := 0
	for i, r := range s {
		switch r {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return s[:i+1]
			}
		}
	}
	return s
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

//go:build cgo

package cuda

/*
// The CUDA driver API (libcuda.so.1, cuda.h): one wrapper per function,
// the status code out; those that need a context make it current first.
#include "shim.h"

static int mg_cuInit(void) { return CALL(S_cuInit, CUresult(*)(unsigned), 0); }
static int mg_cuDriverGetVersion(int *v) { return CALL(S_cuDriverGetVersion, CUresult(*)(int *), v); }
static int mg_cuDeviceGetCount(int *n) { return CALL(S_cuDeviceGetCount, CUresult(*)(int *), n); }
static int mg_cuDeviceGet(CUdevice *d, int ordinal) { return CALL(S_cuDeviceGet, CUresult(*)(CUdevice *, int), d, ordinal); }
static int mg_cuDeviceGetName(char *name, int len, CUdevice d) {
	return CALL(S_cuDeviceGetName, CUresult(*)(char *, int, CUdevice), name, len, d);
}
static int mg_cuDeviceGetAttribute(int *v, int attr, CUdevice d) {
	return CALL(S_cuDeviceGetAttribute, CUresult(*)(int *, int, CUdevice), v, attr, d);
}
static int mg_cuDeviceTotalMem(size_t *bytes, CUdevice d) {
	return CALL(S_cuDeviceTotalMem_v2, CUresult(*)(size_t *, CUdevice), bytes, d);
}
static int mg_cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice d) {
	return CALL(S_cuDevicePrimaryCtxRetain, CUresult(*)(CUcontext *, CUdevice), ctx, d);
}
static int mg_cuStreamCreate(CUstream *s) { ENSURE_CTX(); return CALL(S_cuStreamCreate, CUresult(*)(CUstream *, unsigned), s, 0); }
static int mg_cuStreamSynchronize(CUstream s) { ENSURE_CTX(); return CALL(S_cuStreamSynchronize, CUresult(*)(CUstream), s); }
static int mg_cuStreamDestroy(CUstream s) { ENSURE_CTX(); return CALL(S_cuStreamDestroy_v2, CUresult(*)(CUstream), s); }
static int mg_cuMemAlloc(CUdeviceptr *p, size_t bytes) { ENSURE_CTX(); return CALL(S_cuMemAlloc_v2, CUresult(*)(CUdeviceptr *, size_t), p, bytes); }
static int mg_cuMemFree(CUdeviceptr p) { ENSURE_CTX(); return CALL(S_cuMemFree_v2, CUresult(*)(CUdeviceptr), p); }
static int mg_cuMemGetInfo(size_t *free_bytes, size_t *total) {
	ENSURE_CTX();
	return CALL(S_cuMemGetInfo_v2, CUresult(*)(size_t *, size_t *), free_bytes, total);
}
static int mg_cuMemcpyHtoDAsync(CUdeviceptr dst, const void *src, size_t bytes, CUstream s) {
	ENSURE_CTX();
	return CALL(S_cuMemcpyHtoDAsync_v2, CUresult(*)(CUdeviceptr, const void *, size_t, CUstream), dst, src, bytes, s);
}
static int mg_cuMemcpyDtoHAsync(void *dst, CUdeviceptr src, size_t bytes, CUstream s) {
	ENSURE_CTX();
	return CALL(S_cuMemcpyDtoHAsync_v2, CUresult(*)(void *, CUdeviceptr, size_t, CUstream), dst, src, bytes, s);
}
static int mg_cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s) {
	ENSURE_CTX();
	return CALL(S_cuMemcpyDtoDAsync_v2, CUresult(*)(CUdeviceptr, CUdeviceptr, size_t, CUstream), dst, src, bytes, s);
}
static int mg_cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t n, CUstream s) {
	ENSURE_CTX();
	return CALL(S_cuMemsetD32Async, CUresult(*)(CUdeviceptr, unsigned, size_t, CUstream), dst, value, n, s);
}
static int mg_cuModuleLoadData(CUmodule *m, const void *image) {
	ENSURE_CTX();
	return CALL(S_cuModuleLoadData, CUresult(*)(CUmodule *, const void *), m, image);
}
static int mg_cuModuleUnload(CUmodule m) { ENSURE_CTX(); return CALL(S_cuModuleUnload, CUresult(*)(CUmodule), m); }
static int mg_cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
	ENSURE_CTX();
	return CALL(S_cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), f, m, name);
}

// mg_cuLaunchKernel takes the arguments packed in one buffer (no pointers
// into Go memory inside it): offsets[i] is where argument i starts. The
// driver copies the arguments before returning.
static int mg_cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
		unsigned bz, unsigned shared, CUstream s, char *args, const int *offsets, int nargs) {
	void *params[32];
	if (nargs > 32) return 1; // CUDA_ERROR_INVALID_VALUE
	for (int i = 0; i < nargs; i++) params[i] = args + offsets[i];
	ENSURE_CTX();
	return CALL(S_cuLaunchKernel,
		CUresult(*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **),
		f, gx, gy, gz, bx, by, bz, shared, s, params, NULL);
}
static const char *mg_cuErrorText(int code, int name) {
	const char *s = NULL;
	int slot = name ? S_cuGetErrorName : S_cuGetErrorString;
	if (mg_sym[slot] == NULL || CALL(slot, CUresult(*)(CUresult, const char **), code, &s) != 0) return NULL;
	return s;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// Enum values from the API references.
const (
	attrMultiprocessorCount = 16 // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
	attrComputeMajor        = 75 // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
	attrComputeMinor        = 76 // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
)

// Init initialises the driver API (cuInit).
func Init() error { return checkDriver("cuInit", C.mg_cuInit()) }

// DriverVersion is the CUDA version the driver supports, e.g. 12040.
func DriverVersion() (int, error) {
	var v C.int
	err := checkDriver("cuDriverGetVersion", C.mg_cuDriverGetVersion(&v))
	return int(v), err
}

// DeviceCount is the number of visible GPUs.
func DeviceCount() (int, error) {
	var n C.int
	err := checkDriver("cuDeviceGetCount", C.mg_cuDeviceGetCount(&n))
	return int(n), err
}

// DeviceProps describes one GPU.
type DeviceProps struct {
	Ordinal        int
	Name           string
	Major, Minor   int // compute capability
	Memory         uint64
	Multiprocessor int
}

// Device reads the properties of GPU ordinal.
func Device(ordinal int) (DeviceProps, error) {
	p := DeviceProps{Ordinal: ordinal}
	var d C.CUdevice
	if err := checkDriver("cuDeviceGet", C.mg_cuDeviceGet(&d, C.int(ordinal))); err != nil {
		return p, err
	}
	var name [256]C.char
	if err := checkDriver("cuDeviceGetName", C.mg_cuDeviceGetName(&name[0], C.int(len(name)), d)); err != nil {
		return p, err
	}
	p.Name = C.GoString(&name[0])
	for _, a := range []struct {
		attr int
		dst  *int
	}{{attrComputeMajor, &p.Major}, {attrComputeMinor, &p.Minor}, {attrMultiprocessorCount, &p.Multiprocessor}} {
		var v C.int
		if err := checkDriver("cuDeviceGetAttribute", C.mg_cuDeviceGetAttribute(&v, C.int(a.attr), d)); err != nil {
			return p, err
		}
		*a.dst = int(v)
	}
	var mem C.size_t
	err := checkDriver("cuDeviceTotalMem", C.mg_cuDeviceTotalMem(&mem, d))
	p.Memory = uint64(mem)
	return p, err
}

// UsePrimaryContext retains GPU ordinal's primary context, the one the CUDA
// runtime inside cuDNN and cuBLAS also uses, and makes it the context every
// wrapper call runs in. It is retained once per process and never released:
// a primary context destroyed and re-created under a live CUDA runtime (a
// second backend opened after the first was closed) would leave the
// runtime's state stale. The driver frees it at exit.
func UsePrimaryContext(ordinal int) error {
	contextMu.Lock()
	defer contextMu.Unlock()
	if ordinal == contextOrdinal {
		return nil
	}
	if contextOrdinal >= 0 {
		return fmt.Errorf("cuda: GPU %d is in use by this process; cannot switch to GPU %d", contextOrdinal, ordinal)
	}
	var dev C.CUdevice
	if err := checkDriver("cuDeviceGet", C.mg_cuDeviceGet(&dev, C.int(ordinal))); err != nil {
		return err
	}
	var ctx C.CUcontext
	if err := checkDriver("cuDevicePrimaryCtxRetain", C.mg_cuDevicePrimaryCtxRetain(&ctx, dev)); err != nil {
		return err
	}
	C.mg_set_context(ctx)
	contextOrdinal = ordinal
	return nil
}

var (
	contextMu      sync.Mutex
	contextOrdinal = -1
)

// MemInfo reports free and total device memory in bytes.
func MemInfo() (free, total uint64, err error) {
	var f, t C.size_t
	err = checkDriver("cuMemGetInfo", C.mg_cuMemGetInfo(&f, &t))
	return uint64(f), uint64(t), err
}

// DevicePtr is a device address.
type DevicePtr uint64

// MemAlloc allocates bytes of device memory.
func MemAlloc(bytes int) (DevicePtr, error) {
	var p C.CUdeviceptr
	err := checkDriver(fmt.Sprintf("cuMemAlloc(%d bytes)", bytes), C.mg_cuMemAlloc(&p, C.size_t(bytes)))
	return DevicePtr(p), err
}

// MemFree frees what MemAlloc returned.
func MemFree(p DevicePtr) error { return checkDriver("cuMemFree", C.mg_cuMemFree(C.CUdeviceptr(p))) }

// Stream is a CUDA stream: work queued on it runs in order.
type Stream struct{ s C.CUstream }

func NewStream() (*Stream, error) {
	s := &Stream{}
	if err := checkDriver("cuStreamCreate", C.mg_cuStreamCreate(&s.s)); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Stream) Synchronize() error {
	return checkDriver("cuStreamSynchronize", C.mg_cuStreamSynchronize(s.s))
}

func (s *Stream) Destroy() error { return checkDriver("cuStreamDestroy", C.mg_cuStreamDestroy(s.s)) }

// CopyToDevice copies host bytes to the device and waits for the copy: the
// Go memory must not be read after the call returns.
func (s *Stream) CopyToDevice(dst DevicePtr, src unsafe.Pointer, bytes int) error {
	if bytes == 0 {
		return nil
	}
	if err := checkDriver("cuMemcpyHtoDAsync", C.mg_cuMemcpyHtoDAsync(C.CUdeviceptr(dst), src, C.size_t(bytes), s.s)); err != nil {
		return err
	}
	return s.Synchronize()
}

// CopyToHost copies device bytes to host memory, waiting for queued work.
func (s *Stream) CopyToHost(dst unsafe.Pointer, src DevicePtr, bytes int) error {
	if bytes == 0 {
		return s.Synchronize()
	}
	if err := checkDriver("cuMemcpyDtoHAsync", C.mg_cuMemcpyDtoHAsync(dst, C.CUdeviceptr(src), C.size_t(bytes), s.s)); err != nil {
		return err
	}
	return s.Synchronize()
}

// CopyDevice queues a device-to-device copy.
func (s *Stream) CopyDevice(dst, src DevicePtr, bytes int) error {
	return checkDriver("cuMemcpyDtoDAsync", C.mg_cuMemcpyDtoDAsync(C.CUdeviceptr(dst), C.CUdeviceptr(src), C.size_t(bytes), s.s))
}

// Memset32 queues setting n 32-bit words to value.
func (s *Stream) Memset32(dst DevicePtr, value uint32, n int) error {
	return checkDriver("cuMemsetD32Async", C.mg_cuMemsetD32Async(C.CUdeviceptr(dst), C.uint(value), C.size_t(n), s.s))
}

// Module is a loaded CUBIN or PTX image.
type Module struct{ m C.CUmodule }

// LoadModule loads a compiled image (CUBIN, or PTX the driver compiles).
func LoadModule(image []byte) (*Module, error) {
	m := &Module{}
	// PTX must end in a NUL byte; a CUBIN is read by its own header.
	buf := C.CBytes(append(image, 0))
	defer C.free(buf)
	if err := checkDriver("cuModuleLoadData", C.mg_cuModuleLoadData(&m.m, buf)); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Module) Unload() error { return checkDriver("cuModuleUnload", C.mg_cuModuleUnload(m.m)) }

// Function is a kernel in a loaded module.
type Function struct {
	f    C.CUfunction
	Name string
}

func (m *Module) Function(name string) (Function, error) {
	f := Function{Name: name}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	err := checkDriver("cuModuleGetFunction("+name+")", C.mg_cuModuleGetFunction(&f.f, m.m, cname))
	return f, err
}

// Args packs kernel arguments by value into one buffer, each at its natural
// alignment, in the order of the kernel's parameters. Reset it before each
// launch; it does not allocate.
type Args struct {
	buf  [256]byte
	off  [32]C.int
	n    int
	size int
	err  error
}

func (a *Args) Reset() { a.n, a.size, a.err = 0, 0, nil }

func (a *Args) put(bytes int, write func([]byte)) *Args {
	at := (a.size + bytes - 1) / bytes * bytes
	if a.n == len(a.off) || at+bytes > len(a.buf) {
		a.err = errors.New("too many kernel arguments")
		return a
	}
	write(a.buf[at : at+bytes])
	a.off[a.n] = C.int(at)
	a.n++
	a.size = at + bytes
	return a
}

// Ptr adds a device pointer argument (0 is a null pointer).
func (a *Args) Ptr(p DevicePtr) *Args { return a.Int64(int64(p)) }

func (a *Args) Int64(v int64) *Args {
	return a.put(8, func(b []byte) { *(*int64)(unsafe.Pointer(&b[0])) = v })
}

func (a *Args) Int(v int) *Args {
	return a.put(4, func(b []byte) { *(*int32)(unsafe.Pointer(&b[0])) = int32(v) })
}

func (a *Args) Float(v float32) *Args {
	return a.put(4, func(b []byte) { *(*float32)(unsafe.Pointer(&b[0])) = v })
}

// Launch queues f on a grid of blocks of threads (one dimension each).
func (s *Stream) Launch(f Function, blocks, threads int, a *Args) error {
	if a.err != nil {
		return fmt.Errorf("cuLaunchKernel(%s): %w", f.Name, a.err)
	}
	// The call's name is built only on failure: launches are the hot path.
	r := C.mg_cuLaunchKernel(f.f, C.uint(blocks), 1, 1, C.uint(threads), 1, 1, 0, s.s,
		(*C.char)(unsafe.Pointer(&a.buf[0])), &a.off[0], C.int(a.n))
	if r == 0 {
		return nil
	}
	return checkDriver("cuLaunchKernel("+f.Name+")", r)
}

func driverMessage(code int) string {
	name, text := C.mg_cuErrorText(C.int(code), 1), C.mg_cuErrorText(C.int(code), 0)
	switch {
	case name != nil && text != nil:
		return C.GoString(name) + ": " + C.GoString(text)
	case name != nil:
		return C.GoString(name)
	}
	return "unknown error"
}

func checkDriver(call string, r C.int) error {
	switch r {
	case 0:
		return nil
	case C.MG_CTX_FAILED:
		return ctxError(call)
	}
	return &Error{Call: call, Lib: "CUDA driver", Code: int(r), Message: driverMessage(int(r))}
}

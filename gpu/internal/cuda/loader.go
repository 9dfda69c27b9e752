//go:build cgo

package cuda

/*
// Opening the libraries and resolving symbols.h's functions into the slots.
#cgo LDFLAGS: -ldl
#include "shim.h"

static const char *mg_symbol_name(int slot) { return mg_sym_name[slot]; }
static int mg_symbol_lib(int slot) { return mg_sym_lib[slot]; }
*/
import "C"

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"
)

// Supported reports whether this build can load CUDA (it was built with cgo).
const Supported = true

// symbol is one line of symbols.h: a function and its library.
type symbol struct {
	lib  *Library
	name string
}

// symbols is symbols.h's list in slot order, read from the C side, so the
// Go side keeps no list of its own that could fall out of step.
var symbols = func() []symbol {
	out := make([]symbol, C.S_COUNT)
	for slot := range out {
		out[slot] = symbol{lib: libraryIDs[C.mg_symbol_lib(C.int(slot))], name: C.GoString(C.mg_symbol_name(C.int(slot)))}
	}
	return out
}()

// libraryIDs maps symbols.h's library column to the libraries.
var libraryIDs = map[C.int]*Library{C.MG_DRIVER: &Driver, C.MG_CUDNN: &CuDNN, C.MG_CUBLAS: &CuBLAS, C.MG_NVRTC: &NVRTC}

// Loaded says where a library was found, or what was tried.
type Loaded struct {
	Lib   *Library
	Path  string   // the file the loader opened ("" when not found)
	Tried []string // candidates and why each failed, when not found
	Err   error
}

// Load opens lib from its first working candidate and resolves its symbols.
// A library can be loaded once per process; later calls return the first
// result.
func Load(lib *Library) *Loaded {
	loadMu.Lock()
	defer loadMu.Unlock()
	if l, ok := loaded[lib]; ok {
		return l
	}
	l := load(lib, Candidates(lib, OSEnv()))
	loaded[lib] = l
	return l
}

var (
	loadMu sync.Mutex
	loaded = map[*Library]*Loaded{}
)

func load(lib *Library, candidates []string) *Loaded {
	l := &Loaded{Lib: lib}
	for _, path := range candidates {
		dir := filepath.Dir(path)
		if strings.ContainsRune(path, '/') {
			preload(dir, lib.Companions)
		}
		handle, err := dlopen(path)
		if err != nil {
			l.Tried = append(l.Tried, err.Error())
			continue
		}
		first := unsafe.Pointer(nil)
		var missing []string
		for slot, s := range symbols {
			if s.lib != lib {
				continue
			}
			name := C.CString(s.name)
			p := C.mg_dlsym(handle, name)
			C.free(unsafe.Pointer(name))
			if p == nil {
				missing = append(missing, s.name)
				continue
			}
			if first == nil {
				first = p
			}
			C.mg_set_sym(C.int(slot), p)
		}
		if len(missing) > 0 {
			l.Tried = append(l.Tried, fmt.Sprintf("%s: lacks %s (too old a release?)", path, strings.Join(missing, ", ")))
			continue
		}
		l.Path = path
		if origin := C.mg_origin(first); origin != nil {
			l.Path = C.GoString(origin)
		}
		if !strings.ContainsRune(path, '/') {
			preload(filepath.Dir(l.Path), lib.Companions)
		}
		return l
	}
	l.Err = fmt.Errorf("%s not found (looked for %s): %s", lib.Name, strings.Join(lib.Sonames, ", "), lib.Hint)
	return l
}

func dlopen(path string) (unsafe.Pointer, error) {
	p := C.CString(path)
	defer C.free(unsafe.Pointer(p))
	h := C.mg_dlopen(p)
	if h == nil {
		msg := "cannot open"
		if e := C.mg_dlerror(); e != nil {
			msg = C.GoString(e)
		}
		return nil, errors.New(msg)
	}
	return h, nil
}

// preload opens the companions present in dir so that the library's own
// by-name loads find them; failures are ignored (the library reports what
// it then lacks).
func preload(dir string, companions []string) {
	for _, pattern := range companions {
		matches, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, path := range newestFirst(matches) {
			_, _ = dlopen(path)
		}
	}
}

// Error is a failed library call: the call, the library's status code and
// its own name and description of it.
type Error struct {
	Call    string
	Lib     string
	Code    int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s failed: %s (%s status %d)", e.Call, e.Message, e.Lib, e.Code)
}

// OutOfMemory reports whether the call failed for lack of device memory.
func (e *Error) OutOfMemory() bool {
	return strings.Contains(e.Message, "OUT_OF_MEMORY") || strings.Contains(e.Message, "ALLOC")
}

func ctxError(call string) error {
	r := int(C.mg_context_result())
	return &Error{Call: call + " (making the context current: cuCtxSetCurrent)", Lib: "CUDA driver", Code: r, Message: driverMessage(r)}
}

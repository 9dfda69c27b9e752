//go:build !cgo

package gpu

import (
	"fmt"
	"io"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

var errNoCgo = fmt.Errorf("cuda: this build has no CUDA support (built with CGO_ENABLED=0; rebuild with cgo and a C compiler): %w", backend.ErrUnavailable)

// Open always fails: loading CUDA at run time needs cgo's dlopen.
func Open() (backend.Backend, error) { return nil, errNoCgo }

// Probe reports that this build cannot look for CUDA.
func Probe() *Report { return &Report{Err: errNoCgo} }

// Report is what `mnistgpu devices` prints.
type Report struct{ Err error }

func (r *Report) Write(w io.Writer) { fmt.Fprintf(w, "CUDA: %v\n", r.Err) }

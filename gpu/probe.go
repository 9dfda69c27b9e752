//go:build cgo

package gpu

import (
	"fmt"
	"io"

	"github.com/mnistgpu/mnistgpu/gpu/internal/cuda"
)

// Report is what `mnistgpu devices` prints: each library found (path and
// version) or missing (what was tried and how to get it), the driver's CUDA
// version and every GPU.
type Report struct {
	Libraries []LibraryReport
	Driver    string // the CUDA version the driver supports, e.g. "12.4"
	GPUs      []cuda.DeviceProps
	Err       error // why the cuda backend cannot run here, nil when it can
}

type LibraryReport struct {
	Name, Path, Version string
	Err                 error
	Tried               []string
}

// Probe looks for the libraries and GPUs without starting the backend.
func Probe() *Report {
	r := &Report{}
	for _, lib := range cuda.Libraries {
		l := cuda.Load(lib)
		lr := LibraryReport{Name: lib.Name, Path: l.Path, Err: l.Err, Tried: l.Tried}
		if l.Err == nil {
			lr.Version = libraryVersion(lib)
		} else if r.Err == nil {
			r.Err = l.Err
		}
		r.Libraries = append(r.Libraries, lr)
	}
	if cuda.Load(&cuda.Driver).Err != nil {
		return r
	}
	if err := cuda.Init(); err != nil {
		r.Err = fmt.Errorf("the CUDA driver found no usable GPU: %w", err)
		return r
	}
	if v, err := cuda.DriverVersion(); err == nil {
		r.Driver = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
	}
	n, err := cuda.DeviceCount()
	if err != nil {
		r.Err = err
		return r
	}
	for i := range n {
		p, err := cuda.Device(i)
		if err != nil {
			r.Err = err
			return r
		}
		r.GPUs = append(r.GPUs, p)
	}
	if n == 0 && r.Err == nil {
		r.Err = fmt.Errorf("no GPU visible to the CUDA driver (check CUDA_VISIBLE_DEVICES)")
	}
	return r
}

func libraryVersion(lib *cuda.Library) string {
	switch lib {
	case &cuda.CuDNN:
		return cudnnVersionText(cuda.CuDNNVersion())
	case &cuda.CuBLAS:
		v, _ := cuda.CuBLASVersion()
		return v
	case &cuda.NVRTC:
		if major, minor, err := cuda.NVRTCVersion(); err == nil {
			return fmt.Sprintf("%d.%d", major, minor)
		}
	}
	return ""
}

func (r *Report) Write(w io.Writer) {
	for _, l := range r.Libraries {
		switch {
		case l.Err != nil:
			fmt.Fprintf(w, "%-12s missing: %v\n", l.Name+":", l.Err)
			for _, t := range l.Tried {
				fmt.Fprintf(w, "%-12s   tried %s\n", "", t)
			}
		case l.Version != "":
			fmt.Fprintf(w, "%-12s %s (%s)\n", l.Name+":", l.Version, l.Path)
		default:
			fmt.Fprintf(w, "%-12s %s\n", l.Name+":", l.Path)
		}
	}
	if r.Driver != "" {
		fmt.Fprintf(w, "%-12s CUDA %s\n", "driver API:", r.Driver)
	}
	for _, g := range r.GPUs {
		fmt.Fprintf(w, "GPU %d:       %s, compute capability %d.%d, %d SMs, %.1f GiB\n", g.Ordinal, g.Name, g.Major, g.Minor,
			g.Multiprocessor, float64(g.Memory)/(1<<30))
	}
	if r.Err == nil {
		fmt.Fprintln(w, "cuda backend: ready (--device cuda)")
	} else {
		fmt.Fprintf(w, "cuda backend: unavailable: %v\n", r.Err)
	}
}

//go:build cgo

package gpu

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/mnistgpu/mnistgpu/gpu/internal/cuda"
	"github.com/mnistgpu/mnistgpu/internal/atomicfile"
	"github.com/mnistgpu/mnistgpu/kernels"
)

// kernelSet is the compiled kernels module and its functions by name.
type kernelSet struct {
	module   *cuda.Module
	fn       map[string]cuda.Function
	compiler string // "NVRTC 12.4 (sm_90, cached)" for Device
}

// compileTarget picks what NVRTC should produce for a GPU of compute
// capability arch (e.g. 90): a CUBIN for that exact architecture when NVRTC
// knows it, else PTX for the newest older one it knows, which the driver
// compiles for the GPU when loading (a GPU newer than the NVRTC at hand).
func compileTarget(arch int, supported []int) (option, target string, cubin bool, err error) {
	if slices.Contains(supported, arch) {
		return fmt.Sprintf("--gpu-architecture=sm_%d", arch), fmt.Sprintf("sm_%d", arch), true, nil
	}
	best := -1
	for _, a := range supported {
		if a < arch && a > best {
			best = a
		}
	}
	if best < 0 {
		return "", "", false, fmt.Errorf("NVRTC supports architectures %v, none usable for this GPU (sm_%d): install a matching NVRTC", supported, arch)
	}
	return fmt.Sprintf("--gpu-architecture=compute_%d", best), fmt.Sprintf("compute_%d", best), false, nil
}

// kernelCacheDir is where compiled kernels are kept between runs.
func kernelCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "mnistgpu", "kernels"), nil
}

// loadKernels compiles kernels.Source for the GPU, or reads the result of an
// earlier compilation from the cache (keyed by source hash, target
// architecture and NVRTC version), and loads it.
func loadKernels(props cuda.DeviceProps) (*kernelSet, error) {
	major, minor, err := cuda.NVRTCVersion()
	if err != nil {
		return nil, err
	}
	supported, err := cuda.SupportedArchs()
	if err != nil {
		return nil, err
	}
	option, target, cubin, err := compileTarget(props.Major*10+props.Minor, supported)
	if err != nil {
		return nil, err
	}
	ks := &kernelSet{fn: map[string]cuda.Function{}}
	name := fmt.Sprintf("%s-%s-nvrtc%d.%d", kernels.Hash()[:16], target, major, minor)
	cacheDir, cacheErr := kernelCacheDir()
	cachePath := filepath.Join(cacheDir, name)
	if cacheErr == nil {
		if image, err := os.ReadFile(cachePath); err == nil {
			if ks.module, err = cuda.LoadModule(image); err == nil {
				ks.compiler = fmt.Sprintf("NVRTC %d.%d (%s, cached)", major, minor, target)
			}
		}
	}
	if ks.module == nil {
		image, _, err := cuda.Compile(kernels.Source, "kernels.cu", []string{option}, cubin)
		if err != nil {
			return nil, fmt.Errorf("compiling kernels/*.cu for %s: %w", target, err)
		}
		if ks.module, err = cuda.LoadModule(image); err != nil {
			return nil, err
		}
		ks.compiler = fmt.Sprintf("NVRTC %d.%d (%s)", major, minor, target)
		// A cache that cannot be written only costs the next start a compilation.
		if cacheErr == nil && os.MkdirAll(cacheDir, 0o755) == nil {
			_ = atomicfile.Write(cachePath, func(w io.Writer) error { _, err := w.Write(image); return err })
		}
	}
	for _, n := range kernels.Names {
		f, err := ks.module.Function(n)
		if err != nil {
			_ = ks.module.Unload()
			return nil, err
		}
		ks.fn[n] = f
	}
	return ks, nil
}

// threadsPerBlock suits every element-wise kernel here; softmax's block
// reduction needs a power of two.
const threadsPerBlock = 256

// blocksFor covers n elements with grid-stride loops, capping the grid.
func blocksFor(n int) int {
	blocks := (n + threadsPerBlock - 1) / threadsPerBlock
	return max(1, min(blocks, 1<<16))
}

// launch queues kernel name over n elements with the arguments set by
// fill. A zero n is a no-op.
func (b *Backend) launch(name string, n int, fill func(a *cuda.Args)) {
	b.launchBlocks(name, blocksFor(n), n, fill)
}

func (b *Backend) launchBlocks(name string, blocks, n int, fill func(a *cuda.Args)) {
	if b.err != nil || n == 0 {
		return
	}
	b.args.Reset()
	fill(&b.args)
	b.fail(b.stream.Launch(b.kernels.fn[name], blocks, threadsPerBlock, &b.args))
}

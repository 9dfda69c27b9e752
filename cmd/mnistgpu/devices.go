package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/mnistgpu/mnistgpu/gpu"
)

// DevicesCmd reports what the cuda backend would use.
type DevicesCmd struct {
	RequireGPU bool `name:"require-gpu" help:"Exit 1 when no GPU is usable (for scripts that need one)."`
}

func (c *DevicesCmd) Help() string {
	return `Looks for the NVIDIA libraries the cuda backend opens at run time (libcuda.so.1, libcudnn.so.9,
libcublas, libnvrtc) in this order: the folders in $` + gpu.LibDirsEnv + ` (':'-separated), the loader's
own search (LD_LIBRARY_PATH, ldconfig), $CUDA_HOME and $CUDA_PATH, /usr/local/cuda*, and the
nvidia/*/lib folders of Python site-packages (pip-installed PyTorch). Prints each library's version
and path, the driver's CUDA version and each GPU; for anything missing, what was tried and how to
get it. A machine without a usable GPU is the normal case, not an error: the report ends with
"no usable GPU" and exits 0, unless --require-gpu asks for exit 1.`
}

func (c *DevicesCmd) Run() error {
	fmt.Printf("CPU:         %s/%s, %d threads\n", runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	r := gpu.Probe()
	r.Write(os.Stdout)
	if r.Err == nil {
		return nil
	}
	if c.RequireGPU {
		return fmt.Errorf("--require-gpu: no usable GPU: cuda backend unavailable")
	}
	fmt.Println("no usable GPU: train and bench run on the cpu (--device auto chooses it)")
	return nil
}

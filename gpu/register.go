// Package gpu is the CUDA backend: cuDNN convolutions and batch norm, cuBLAS
// dense layers, and NVRTC-compiled kernels (package kernels) for the rest,
// with every tensor, the dataset and the training state kept on one GPU and
// all work queued on one stream. The NVIDIA libraries are opened at run time
// (gpu/internal/cuda), so the binary builds without a CUDA toolkit and runs
// on machines without a GPU; built without cgo, the backend answers that
// this build has no CUDA support.
package gpu

import (
	"github.com/mnistgpu/mnistgpu/gpu/internal/cuda"
	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// LibDirsEnv names the folders (':'-separated) searched first for the
// NVIDIA libraries.
const LibDirsEnv = cuda.LibDirsEnv

func init() {
	backend.Register("cuda", func() (backend.Backend, error) {
		b, err := Open()
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return b, nil
	})
}

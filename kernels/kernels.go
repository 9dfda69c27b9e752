// Package kernels holds the CUDA C sources of the ops that cuDNN and cuBLAS
// do not cover. They are embedded in the binary and compiled at run time by
// NVRTC for the GPU at hand (package gpu), so building mnistgpu needs no CUDA
// toolkit.
package kernels

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
)

// Source is the CUDA C translation unit; every kernel in it is extern "C",
// so its name in the compiled module is the function name.
//
//go:embed kernels.cu
var Source string

// Names lists the kernels the GPU backend looks up in the compiled module.
var Names = []string{
	"gather_batch", "bias_add", "relu", "relu_backward", "add",
	"batchnorm_infer", "batchnorm_moving_update",
	"maxpool2x2", "maxpool2x2_backward",
	"softmax_cross_entropy", "confusion", "adam", "transpose",
}

// Hash identifies Source in compiled-module cache keys.
func Hash() string {
	sum := sha256.Sum256([]byte(Source))
	return hex.EncodeToString(sum[:])
}

// Package kernels holds the CUDA C sources of the ops that cuDNN and cuBLAS
// do not cover, one concern per file. They are embedded in the binary and
// compiled at run time by NVRTC for the GPU at hand (package gpu), so
// building mnistgpu needs no CUDA toolkit.
package kernels

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"sort"
	"strings"
)

//go:embed common.cuh *.cu
var files embed.FS

// Source is the one translation unit NVRTC compiles: common.cuh, then every
// .cu file in name order. Every kernel is extern "C", so its name in the
// compiled module is the function name.
var Source = concatenate()

func concatenate() string {
	names, err := fs.Glob(files, "*.cu")
	if err != nil {
		panic(err) // the pattern is constant
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range append([]string{"common.cuh"}, names...) {
		data, err := files.ReadFile(name)
		if err != nil {
			panic(err) // embedded at build time
		}
		// #line makes NVRTC's messages name the file and line they are about.
		b.WriteString("#line 1 \"kernels/" + name + "\"\n")
		b.Write(data)
		b.WriteString("\n")
	}
	return b.String()
}

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

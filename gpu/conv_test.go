//go:build cgo

package gpu

import (
	"testing"

	"github.com/mnistgpu/mnistgpu/gpu/internal/cuda"
)

// MNISTGPU_TF32=0 must keep every algorithm in FP32, even one that Find
// reports with the default math type (which allows TF32 on Ampere and later).
func TestMathForKeepsFP32(t *testing.T) {
	const tensorOp = 1 // CUDNN_TENSOR_OP_MATH
	for _, c := range []struct{ setting, found, want int }{
		{cuda.MathFMA, cuda.MathDefault, cuda.MathFMA},
		{cuda.MathFMA, tensorOp, cuda.MathFMA},
		{cuda.MathFMA, cuda.MathFMA, cuda.MathFMA},
		{cuda.MathDefault, tensorOp, tensorOp},
		{cuda.MathDefault, cuda.MathFMA, cuda.MathFMA},
	} {
		if got := mathFor(c.setting, c.found); got != c.want {
			t.Errorf("setting %d, found %d: runs with %d, want %d", c.setting, c.found, got, c.want)
		}
	}
}

// Batch norm over the last axis of (…, C): cuDNN sees NCHW (rows, C, 1, 1).
func TestBatchNormDescriptors(t *testing.T) {
	x, p := batchNormKey{rows: 8 * 26 * 26, channels: 32}.descriptors()
	if x != [4]int{8 * 26 * 26, 32, 1, 1} || p != [4]int{1, 32, 1, 1} {
		t.Errorf("descriptors x %v, param %v", x, p)
	}
}

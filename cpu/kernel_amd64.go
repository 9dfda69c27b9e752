//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// kernel6x16AVX2 is microKernelGo in AVX2/FMA assembly (kernel_amd64.s).
//
//go:noescape
func kernel6x16AVX2(k int, a, b, c *float32, ldc int)

// hasAVX2 gates the assembly kernel; tests turn it off to run the portable one.
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

func microKernel(k int, a, b, c []float32, ldc int) {
	if !hasAVX2 {
		microKernelGo(k, a, b, c, ldc)
		return
	}
	// Bounds the assembly relies on: a full k×mr and k×nr panel, an mr×nr tile of c.
	_ = a[k*mr-1]
	_ = b[k*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	kernel6x16AVX2(k, &a[0], &b[0], &c[0], ldc)
}

// kernelName says which micro-kernel runs; Device reports it.
func kernelName() string {
	if hasAVX2 {
		return "avx2-fma 6x16"
	}
	return "portable go 6x16"
}

//go:build (!amd64 && !arm64) || purego

package cpu

var hasAVX2, hasAVX512 = false, false

func microKernel(k int, a, b, c []float32, ldc int) { microKernelGo(k, a, b, c, ldc) }

func stridedKernel(s *stridedCall, accumulate bool) { stridedGo(s, accumulate) }

func kernelName() string { return "portable go 6x16" }

//go:build arm64 && !purego

package cpu

import "golang.org/x/sys/cpu"

//go:generate go run gen_strided_neon.go

// hasAVX2 and hasAVX512 are never set on arm64; hasNEON gates the NEON
// strided kernel (strided_neon_arm64.s). Every arm64 CPU that Go runs on
// has Advanced SIMD, but it is asked for all the same, and tests turn it
// off to run the portable kernel.
var (
	hasAVX2, hasAVX512 = false, false
	hasNEON            = cpu.ARM64.HasASIMD
)

func microKernel(k int, a, b, c []float32, ldc int) { microKernelGo(k, a, b, c, ldc) }

// stridedKernel runs one strided tile (strided.go) on the NEON kernels
// where the CPU has them (stridedHalves), else in Go.
func stridedKernel(s *stridedCall, accumulate bool) {
	if !hasNEON {
		stridedGo(s, accumulate)
		return
	}
	stridedHalves(s, accumulate, &stridedNEONAsm)
}

// kernelName says which micro-kernels run; Device reports it.
func kernelName() string {
	if hasNEON && directConv {
		return "neon direct 16-wide + portable go 6x16"
	}
	return "portable go 6x16"
}

//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// kernel6x16AVX2 is microKernelGo in AVX2/FMA assembly (kernel_amd64.s).
//
//go:noescape
func kernel6x16AVX2(k int, a, b, c *float32, ldc int)

// hasAVX2 and hasAVX512 gate the assembly kernels: what the CPU has, less
// what KernelEnv turns off at start-up (kernelchoice.go); tests turn them
// off to run the portable ones.
var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = cpu.X86.HasAVX512F
)

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

// stridedKernel runs one strided tile (strided.go), in AVX-512 assembly
// (strided_amd64.s) where the CPU has it, else in AVX2/FMA assembly
// (strided_avx2_amd64.s) where it has that.
func stridedKernel(s *stridedCall, accumulate bool) {
	if !hasAVX512 {
		if hasAVX2 {
			stridedAVX2(s, accumulate)
			return
		}
		stridedGo(s, accumulate)
		return
	}
	s.check()
	if len(s.offs) == 0 || s.kPerTap == 0 {
		stridedGo(s, accumulate) // nothing to read: clears or keeps the rows
		return
	}
	for r := range s.mr {
		s.ptrs[r] = &s.rows[r][0]
	}
	acc := 0
	if accumulate {
		acc = 1
	}
	var bias *float32
	if s.bias != nil {
		bias = &s.bias[0]
	}
	stridedAsm[s.mr](&s.a[0], &s.offsBytes[0], len(s.offs), s.kPerTap, s.ar, s.ap, &s.b[0], s.bp, &s.ptrs[0], acc, bias)
}

// kernelName says which micro-kernels run; Device reports it.
func kernelName() string {
	switch {
	case hasAVX512:
		return "avx512 strided 32-wide + avx2-fma 6x16"
	case hasAVX2 && directConv:
		return "avx2-fma strided 16-wide + avx2-fma 6x16"
	case hasAVX2:
		return "avx2-fma 6x16"
	}
	return "portable go 6x16"
}

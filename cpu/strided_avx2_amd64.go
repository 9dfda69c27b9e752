//go:build amd64 && !purego

package cpu

//go:generate go run gen_strided_avx2.go

// stridedAVX2 is the strided tile of s on CPUs with AVX2/FMA but no
// AVX-512: the 6×16 kernels of strided_avx2_amd64.s (stridedHalves).
func stridedAVX2(s *stridedCall, accumulate bool) { stridedHalves(s, accumulate, &stridedAVX2Asm) }

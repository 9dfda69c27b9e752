//go:build amd64 && !purego

package cpu

//go:generate go run gen_strided_avx2.go

// avx2MR is the most rows an AVX2 strided kernel takes: 12 of its 16
// vector registers accumulate 6 rows × 16 columns.
const avx2MR = 6

// stridedAVX2 is the strided tile of s (up to maxMR × 32) on CPUs with
// AVX2/FMA but no AVX-512, cut into 16-column halves and, within a half,
// into runs of at most avx2MR rows of as even a size as fits (13 rows: 5,
// 4, 4). Every element is the AVX-512 kernel's sum in its order, so the
// two give the same bits; the half is the outer loop so that its 16
// columns of b stay in L1 across the row runs.
func stridedAVX2(s *stridedCall, accumulate bool) {
	s.check()
	if len(s.offs) == 0 || s.kPerTap == 0 {
		stridedGo(s, accumulate) // nothing to read: clears or keeps the rows
		return
	}
	acc := 0
	if accumulate {
		acc = 1
	}
	runs := (s.mr + avx2MR - 1) / avx2MR
	for half := 0; half < stridedCols; half += stridedCols / 2 {
		var bias *float32
		if s.bias != nil {
			bias = &s.bias[half]
		}
		for run, r0 := 0, 0; run < runs; run++ {
			n := (s.mr - r0 + runs - run - 1) / (runs - run)
			for r := range n {
				s.ptrs[r] = &s.rows[r0+r][half]
			}
			stridedAVX2Asm[n](&s.a[r0*s.ar], &s.offsBytes[0], len(s.offs), s.kPerTap, s.ar, s.ap, &s.b[half], s.bp, &s.ptrs[0], acc, bias)
			r0 += n
		}
	}
}

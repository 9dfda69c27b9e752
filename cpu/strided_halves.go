package cpu

// halfMR is the most rows a 16-column strided kernel takes (AVX2, NEON):
// 6 rows × 16 columns fill 12 of AVX2's 16 vector registers, 24 of NEON's
// 32.
const halfMR = 6

// stridedHalfKernel is an assembly kernel of up to halfMR rows × 16
// columns, with the arguments of the AVX-512 one (gen_strided.go).
type stridedHalfKernel func(a *float32, offs *int, ntaps, kPerTap, ar, ap int, b *float32, bp int, c **float32, accumulate int, bias *float32)

// stridedHalves runs the strided tile of s (up to maxMR × 32) on 16-column
// kernels (kernels[mr] for mr rows), cut into two 16-column halves and,
// within a half, into runs of at most halfMR rows of as even a size as
// fits (13 rows: 5, 4, 4). Every element is the AVX-512 kernel's sum in
// its order, so they give the same bits; the half is the outer loop so
// that its 16 columns of b stay in L1 across the row runs.
func stridedHalves(s *stridedCall, accumulate bool, kernels *[halfMR + 1]stridedHalfKernel) {
	s.check()
	if len(s.offs) == 0 || s.kPerTap == 0 {
		stridedGo(s, accumulate) // nothing to read: clears or keeps the rows
		return
	}
	acc := 0
	if accumulate {
		acc = 1
	}
	runs := (s.mr + halfMR - 1) / halfMR
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
			kernels[n](&s.a[r0*s.ar], &s.offsBytes[0], len(s.offs), s.kPerTap, s.ar, s.ap, &s.b[half], s.bp, &s.ptrs[0], acc, bias)
			r0 += n
		}
	}
}

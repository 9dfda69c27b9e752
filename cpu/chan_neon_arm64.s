//go:build arm64 && !purego

#include "textflag.h"

// NEON versions of the row loops of chan_amd64.s and chan_avx2_amd64.s:
// the same operations in the same order on 4-wide vectors, fused (FMLA)
// exactly where those use an FMA and rounded apart (FMUL then FADD) where
// those are, so every element is the AVX-512 loop's bits. x86 MAXPS(a, b)
// is "a > b ? a : b" (it keeps -0 and a NaN b), which FMAX is not, so the
// maxima here are a compare and a select. Go's assembler has no mnemonics
// for the Advanced SIMD float ops: they are WORDs, each with its
// instruction beside it. ch and n are multiples of 16, as there.

// func sumsNEON(x *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32)
TEXT ·sumsNEON(SB), NOSPLIT, $0-52
	MOVD x+0(FP), R0
	MOVD rows+8(FP), R1
	MOVD ch+16(FP), R2
	MOVD mu+24(FP), R3
	MOVD s1+32(FP), R4
	MOVD s2+40(FP), R5
	FMOVS lo+48(FP), F16
	VDUP V16.S[0], V16.S4
	LSL $2, R2
	MOVD $0, R6
sums_strip:
	CMP R2, R6
	BGE sums_done
	ADD R6, R3, R7
	VLD1 (R7), [V5.S4]
	ADD R6<<1, R4, R8
	VLD1 (R8), [V0.D2, V1.D2]
	ADD R6<<1, R5, R9
	VLD1 (R9), [V2.D2, V3.D2]
	ADD R6, R0, R10
	MOVD R1, R11
	CMP $0, R11
	BLE sums_store
sums_row:
	VLD1 (R10), [V4.S4]
	WORD $0x6ea4e606 // FCMGT V6.4S, V16.4S, V4.4S: lo > x
	WORD $0x4e661c84 // BIC V4.16B, V4.16B, V6.16B: max(x, lo) as MAXPS: -0 and NaN kept
	WORD $0x4ea5d484 // FSUB V4.4S, V4.4S, V5.4S: d = x - mu
	WORD $0x0e617886 // FCVTL V6.2D, V4.2S
	WORD $0x4e617887 // FCVTL2 V7.2D, V4.4S
	WORD $0x4e66d400 // FADD V0.2D, V0.2D, V6.2D
	WORD $0x4e67d421 // FADD V1.2D, V1.2D, V7.2D
	WORD $0x4e66ccc2 // FMLA V2.2D, V6.2D, V6.2D: s2 += d*d, fused as VFMADD231PD
	WORD $0x4e67cce3 // FMLA V3.2D, V7.2D, V7.2D
	ADD R2, R10
	SUB $1, R11
	CBNZ R11, sums_row
sums_store:
	VST1 [V0.D2, V1.D2], (R8)
	VST1 [V2.D2, V3.D2], (R9)
	ADD $16, R6
	B sums_strip
sums_done:
	RET

// func dotsNEON(a, b *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32)
TEXT ·dotsNEON(SB), NOSPLIT, $0-60
	MOVD a+0(FP), R0
	MOVD b+8(FP), R12
	MOVD rows+16(FP), R1
	MOVD ch+24(FP), R2
	MOVD mu+32(FP), R3
	MOVD s1+40(FP), R4
	MOVD s2+48(FP), R5
	FMOVS lo+56(FP), F16
	VDUP V16.S[0], V16.S4
	LSL $2, R2
	MOVD $0, R6
dots_strip:
	CMP R2, R6
	BGE dots_done
	ADD R6, R3, R7
	VLD1 (R7), [V5.S4]
	ADD R6<<1, R4, R8
	VLD1 (R8), [V0.D2, V1.D2]
	ADD R6<<1, R5, R9
	VLD1 (R9), [V2.D2, V3.D2]
	ADD R6, R0, R10
	ADD R6, R12, R13
	MOVD R1, R11
	CMP $0, R11
	BLE dots_store
dots_row:
	VLD1 (R10), [V4.S4]
	WORD $0x0e617886 // FCVTL V6.2D, V4.2S
	WORD $0x4e617887 // FCVTL2 V7.2D, V4.4S
	WORD $0x4e66d400 // FADD V0.2D, V0.2D, V6.2D
	WORD $0x4e67d421 // FADD V1.2D, V1.2D, V7.2D
	VLD1 (R13), [V17.S4]
	WORD $0x6eb1e612 // FCMGT V18.4S, V16.4S, V17.4S: lo > x
	WORD $0x4e721e31 // BIC V17.16B, V17.16B, V18.16B: max(x, lo) as MAXPS: -0 and NaN kept
	WORD $0x4ea5d631 // FSUB V17.4S, V17.4S, V5.4S: b - mu
	WORD $0x0e617a33 // FCVTL V19.2D, V17.2S
	WORD $0x4e617a34 // FCVTL2 V20.2D, V17.4S
	WORD $0x4e73ccc2 // FMLA V2.2D, V6.2D, V19.2D: s2 += a*(b-mu), fused
	WORD $0x4e74cce3 // FMLA V3.2D, V7.2D, V20.2D
	ADD R2, R10
	ADD R2, R13
	SUB $1, R11
	CBNZ R11, dots_row
dots_store:
	VST1 [V0.D2, V1.D2], (R8)
	VST1 [V2.D2, V3.D2], (R9)
	ADD $16, R6
	B dots_strip
dots_done:
	RET

// func affineNEON(y, x, z *float32, rows, ch int, ka, m, kb, kc *float32, lo, floor, cut float32)
TEXT ·affineNEON(SB), NOSPLIT, $0-84
	MOVD y+0(FP), R0
	MOVD x+8(FP), R1
	MOVD z+16(FP), R2
	MOVD rows+24(FP), R3
	MOVD ch+32(FP), R4
	MOVD ka+40(FP), R5
	MOVD m+48(FP), R6
	MOVD kb+56(FP), R7
	MOVD kc+64(FP), R8
	FMOVS lo+72(FP), F16
	VDUP V16.S[0], V16.S4
	FMOVS floor+76(FP), F17
	VDUP V17.S[0], V17.S4
	FMOVS cut+80(FP), F18
	VDUP V18.S[0], V18.S4
	LSL $2, R4
	CMP $0, R3
	BLE rows_done
rows_row:
	MOVD $0, R9
rows_strip:
	ADD R9, R1, R10
	VLD1 (R10), [V0.S4]
	WORD $0x6e20e643 // FCMGE V3.4S, V18.4S, V0.4S: x <= cut: the lanes cleared (none for a NaN cut)
	WORD $0x6ea0e604 // FCMGT V4.4S, V16.4S, V0.4S: lo > x
	WORD $0x4e641c00 // BIC V0.16B, V0.16B, V4.16B: max(x, lo) as MAXPS: -0 and NaN kept
	ADD R9, R6, R10
	VLD1 (R10), [V5.S4]
	WORD $0x4ea5d400 // FSUB V0.4S, V0.4S, V5.4S: v = x - m
	ADD R9, R8, R10
	VLD1 (R10), [V2.S4]
	ADD R9, R5, R10
	VLD1 (R10), [V5.S4]
	WORD $0x4e25cc02 // FMLA V2.4S, V0.4S, V5.4S: kc + v*ka, fused as VFMADD231PS
	CBZ R2, rows_store
	ADD R9, R2, R10
	VLD1 (R10), [V1.S4]
	ADD R9, R7, R10
	VLD1 (R10), [V5.S4]
	WORD $0x4e25cc22 // FMLA V2.4S, V1.4S, V5.4S: + z*kb, fused
rows_store:
	WORD $0x6ea2e624 // FCMGT V4.4S, V17.4S, V2.4S: lo > x
	WORD $0x4e641c42 // BIC V2.16B, V2.16B, V4.16B: max(x, lo) as MAXPS: -0 and NaN kept
	WORD $0x4e631c42 // BIC V2.16B, V2.16B, V3.16B
	ADD R9, R0, R10
	VST1 [V2.S4], (R10)
	ADD $16, R9
	CMP R4, R9
	BLT rows_strip
	ADD R4, R0
	ADD R4, R1
	CBZ R2, rows_next
	ADD R4, R2
rows_next:
	SUB $1, R3
	CBNZ R3, rows_row
rows_done:
	RET

// func reluNEON(y, x *float32, n int)
TEXT ·reluNEON(SB), NOSPLIT, $0-24
	MOVD y+0(FP), R0
	MOVD x+8(FP), R1
	MOVD n+16(FP), R2
	LSR $4, R2
	CBZ R2, relu_done
	VEOR V16.B16, V16.B16, V16.B16
relu_loop:
	VLD1.P 64(R1), [V0.S4, V1.S4, V2.S4, V3.S4]
	WORD $0x6ea0e604 // FCMGT V4.4S, V16.4S, V0.4S: lo > x
	WORD $0x4e641c00 // BIC V0.16B, V0.16B, V4.16B: max(x, lo) as MAXPS: -0 and NaN kept
	WORD $0x6ea1e605 // FCMGT V5.4S, V16.4S, V1.4S: lo > x
	WORD $0x4e651c21 // BIC V1.16B, V1.16B, V5.16B: max(x, lo) as MAXPS: -0 and NaN kept
	WORD $0x6ea2e606 // FCMGT V6.4S, V16.4S, V2.4S: lo > x
	WORD $0x4e661c42 // BIC V2.16B, V2.16B, V6.16B: max(x, lo) as MAXPS: -0 and NaN kept
	WORD $0x6ea3e607 // FCMGT V7.4S, V16.4S, V3.4S: lo > x
	WORD $0x4e671c63 // BIC V3.16B, V3.16B, V7.16B: max(x, lo) as MAXPS: -0 and NaN kept
	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], 64(R0)
	SUB $1, R2
	CBNZ R2, relu_loop
relu_done:
	RET

// func reluBackwardNEON(dx, dy, y *float32, n int)
TEXT ·reluBackwardNEON(SB), NOSPLIT, $0-32
	MOVD dx+0(FP), R0
	MOVD dy+8(FP), R1
	MOVD y+16(FP), R3
	MOVD n+24(FP), R2
	LSR $4, R2
	CBZ R2, relub_done
	VEOR V16.B16, V16.B16, V16.B16
relub_loop:
	VLD1.P 64(R3), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P 64(R1), [V4.S4, V5.S4, V6.S4, V7.S4]
	WORD $0x6e20e600 // FCMGE V0.4S, V16.4S, V0.4S: y <= 0 (false for NaN)
	WORD $0x4e601c84 // BIC V4.16B, V4.16B, V0.16B: dy where not (y <= 0)
	WORD $0x6e21e601 // FCMGE V1.4S, V16.4S, V1.4S
	WORD $0x4e611ca5 // BIC V5.16B, V5.16B, V1.16B
	WORD $0x6e22e602 // FCMGE V2.4S, V16.4S, V2.4S
	WORD $0x4e621cc6 // BIC V6.16B, V6.16B, V2.16B
	WORD $0x6e23e603 // FCMGE V3.4S, V16.4S, V3.4S
	WORD $0x4e631ce7 // BIC V7.16B, V7.16B, V3.16B
	VST1.P [V4.S4, V5.S4, V6.S4, V7.S4], 64(R0)
	SUB $1, R2
	CBNZ R2, relub_loop
relub_done:
	RET

// func addNEON(y, a, b *float32, n int)
TEXT ·addNEON(SB), NOSPLIT, $0-32
	MOVD y+0(FP), R0
	MOVD a+8(FP), R1
	MOVD b+16(FP), R3
	MOVD n+24(FP), R2
	LSR $4, R2
	CBZ R2, add_done
add_loop:
	VLD1.P 64(R1), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P 64(R3), [V4.S4, V5.S4, V6.S4, V7.S4]
	WORD $0x4e24d400 // FADD V0.4S, V0.4S, V4.4S
	WORD $0x4e25d421 // FADD V1.4S, V1.4S, V5.4S
	WORD $0x4e26d442 // FADD V2.4S, V2.4S, V6.4S
	WORD $0x4e27d463 // FADD V3.4S, V3.4S, V7.4S
	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], 64(R0)
	SUB $1, R2
	CBNZ R2, add_loop
add_done:
	RET

// func maxPoolRowNEON(y, top, bottom *float32, ow, ch int)
TEXT ·maxPoolRowNEON(SB), NOSPLIT, $0-40
	MOVD y+0(FP), R0
	MOVD top+8(FP), R1
	MOVD bottom+16(FP), R2
	MOVD ow+24(FP), R3
	MOVD ch+32(FP), R4
	LSL $2, R4
	CBZ R3, pool_done
pool_pixel:
	MOVD $0, R5
pool_strip:
	ADD R5, R1, R6
	VLD1 (R6), [V0.S4]
	ADD R4, R6
	VLD1 (R6), [V1.S4]
	ADD R5, R2, R6
	VLD1 (R6), [V2.S4]
	ADD R4, R6
	VLD1 (R6), [V3.S4]
	WORD $0x6ea1e404 // FCMGT V4.4S, V0.4S, V1.4S
	WORD $0x6e611c04 // BSL V4.16B, V0.16B, V1.16B
	WORD $0x6ea3e445 // FCMGT V5.4S, V2.4S, V3.4S
	WORD $0x6e631c45 // BSL V5.16B, V2.16B, V3.16B
	WORD $0x6ea5e486 // FCMGT V6.4S, V4.4S, V5.4S
	WORD $0x6e651c86 // BSL V6.16B, V4.16B, V5.16B
	ADD R5, R0, R6
	VST1 [V6.S4], (R6)
	ADD $16, R5
	CMP R4, R5
	BLT pool_strip
	ADD R4, R0
	ADD R4<<1, R1
	ADD R4<<1, R2
	SUB $1, R3
	CBNZ R3, pool_pixel
pool_done:
	RET

// func maxPoolBackwardRowNEON(dtop, dbottom, dy, top, bottom *float32, ow, ch int)
TEXT ·maxPoolBackwardRowNEON(SB), NOSPLIT, $0-56
	MOVD dtop+0(FP), R0
	MOVD dbottom+8(FP), R1
	MOVD dy+16(FP), R2
	MOVD top+24(FP), R3
	MOVD bottom+32(FP), R4
	MOVD ow+40(FP), R5
	MOVD ch+48(FP), R6
	LSL $2, R6
	CBZ R5, poolb_done
poolb_pixel:
	MOVD $0, R7
poolb_strip:
	ADD R7, R3, R8
	VLD1 (R8), [V0.S4]
	ADD R6, R8
	VLD1 (R8), [V1.S4]
	ADD R7, R4, R8
	VLD1 (R8), [V2.S4]
	ADD R6, R8
	VLD1 (R8), [V3.S4]
	ADD R7, R2, R8
	VLD1 (R8), [V6.S4]
	WORD $0x6ea1e404 // FCMGT V4.4S, V0.4S, V1.4S
	WORD $0x6e611c04 // BSL V4.16B, V0.16B, V1.16B
	WORD $0x6ea3e445 // FCMGT V5.4S, V2.4S, V3.4S
	WORD $0x6e631c45 // BSL V5.16B, V2.16B, V3.16B
	WORD $0x6ea5e490 // FCMGT V16.4S, V4.4S, V5.4S
	WORD $0x6e651c90 // BSL V16.16B, V4.16B, V5.16B
	WORD $0x4e30e408 // FCMEQ V8.4S, V0.4S, V16.4S: top-left is the maximum
	WORD $0x4e30e429 // FCMEQ V9.4S, V1.4S, V16.4S
	WORD $0x4e681d29 // BIC V9.16B, V9.16B, V8.16B: top-right, unless top-left was
	WORD $0x4ea91d0a // ORR V10.16B, V8.16B, V9.16B
	WORD $0x4e30e44b // FCMEQ V11.4S, V2.4S, V16.4S
	WORD $0x4e6a1d6b // BIC V11.16B, V11.16B, V10.16B: bottom-left, unless an earlier one was
	WORD $0x4eab1d4a // ORR V10.16B, V10.16B, V11.16B: otherwise bottom-right: not V10
	ADD R7, R0, R8
	WORD $0x4e281cc7 // AND V7.16B, V6.16B, V8.16B
	VST1 [V7.S4], (R8)
	ADD R6, R8
	WORD $0x4e291cc7 // AND V7.16B, V6.16B, V9.16B
	VST1 [V7.S4], (R8)
	ADD R7, R1, R8
	WORD $0x4e2b1cc7 // AND V7.16B, V6.16B, V11.16B
	VST1 [V7.S4], (R8)
	ADD R6, R8
	WORD $0x4e6a1cc7 // BIC V7.16B, V6.16B, V10.16B
	VST1 [V7.S4], (R8)
	ADD $16, R7
	CMP R6, R7
	BLT poolb_strip
	ADD R6, R2
	ADD R6<<1, R3
	ADD R6<<1, R4
	ADD R6<<1, R0
	ADD R6<<1, R1
	SUB $1, R5
	CBNZ R5, poolb_pixel
poolb_done:
	RET

// func adamNEON(p, grad, m, v *float32, n int, alpha, c1, c2, eps float32)
TEXT ·adamNEON(SB), NOSPLIT, $0-56
	MOVD p+0(FP), R0
	MOVD grad+8(FP), R1
	MOVD m+16(FP), R2
	MOVD v+24(FP), R3
	MOVD n+32(FP), R4
	FMOVS alpha+40(FP), F20
	VDUP V20.S[0], V20.S4
	FMOVS c1+44(FP), F21
	VDUP V21.S[0], V21.S4
	FMOVS c2+48(FP), F22
	VDUP V22.S[0], V22.S4
	FMOVS eps+52(FP), F23
	VDUP V23.S[0], V23.S4
	LSR $2, R4
	CBZ R4, adam_done
adam_loop:
	VLD1.P 16(R1), [V0.S4]
	VLD1 (R2), [V1.S4]
	VLD1 (R3), [V2.S4]
	WORD $0x4ea1d403 // FSUB V3.4S, V0.4S, V1.4S: g - m
	WORD $0x6e35dc63 // FMUL V3.4S, V3.4S, V21.4S: ·c1, rounded
	WORD $0x4e23d421 // FADD V1.4S, V1.4S, V3.4S: m += ·, apart
	WORD $0x6e20dc04 // FMUL V4.4S, V0.4S, V0.4S: g*g
	WORD $0x4ea2d484 // FSUB V4.4S, V4.4S, V2.4S
	WORD $0x6e36dc84 // FMUL V4.4S, V4.4S, V22.4S
	WORD $0x4e24d442 // FADD V2.4S, V2.4S, V4.4S
	VST1.P [V1.S4], 16(R2)
	VST1.P [V2.S4], 16(R3)
	WORD $0x6ea1f845 // FSQRT V5.4S, V2.4S
	WORD $0x4e37d4a5 // FADD V5.4S, V5.4S, V23.4S: √v + eps
	WORD $0x6e34dc26 // FMUL V6.4S, V1.4S, V20.4S: m·alpha
	WORD $0x6e25fcc6 // FDIV V6.4S, V6.4S, V5.4S
	VLD1 (R0), [V7.S4]
	WORD $0x4ea6d4e7 // FSUB V7.4S, V7.4S, V6.4S
	VST1.P [V7.S4], 16(R0)
	SUB $1, R4
	CBNZ R4, adam_loop
adam_done:
	RET

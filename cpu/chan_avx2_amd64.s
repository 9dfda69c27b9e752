//go:build amd64 && !purego

#include "textflag.h"

// AVX2/FMA versions of the loops of chan_amd64.s, for CPUs without
// AVX-512: the same instructions on 8-wide vectors, in the same order, so
// every element is the AVX-512 loop's bits (a per-channel op walks 8-wide
// strips where that walks 16-wide ones; each channel's sum still runs over
// the rows in order). Comparison masks are vectors of all ones, applied
// with VANDPS where AVX-512 zero-masks. ch and n are multiples of 16, as
// there.

// func sumsAVX2(x *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32)
TEXT ·sumsAVX2(SB), NOSPLIT, $0-52
	MOVQ         x+0(FP), SI
	MOVQ         rows+8(FP), CX
	MOVQ         ch+16(FP), R8
	MOVQ         mu+24(FP), R9
	MOVQ         s1+32(FP), R10
	MOVQ         s2+40(FP), R11
	VBROADCASTSS lo+48(FP), Y8
	SHLQ         $2, R8
	XORQ         DX, DX

sums_strip:
	CMPQ    DX, R8
	JGE     sums_done
	VMOVUPS (R9)(DX*1), Y5
	VMOVUPD (R10)(DX*2), Y0
	VMOVUPD 32(R10)(DX*2), Y1
	VMOVUPD (R11)(DX*2), Y2
	VMOVUPD 32(R11)(DX*2), Y3
	LEAQ    (SI)(DX*1), DI
	MOVQ    CX, AX
	TESTQ   AX, AX
	JLE     sums_store

sums_row:
	VMOVUPS      (DI), Y4
	VMAXPS       Y4, Y8, Y4
	VSUBPS       Y5, Y4, Y4
	VCVTPS2PD    X4, Y6
	VEXTRACTF128 $1, Y4, X7
	VCVTPS2PD    X7, Y7
	VADDPD       Y6, Y0, Y0
	VADDPD       Y7, Y1, Y1
	VFMADD231PD  Y6, Y6, Y2
	VFMADD231PD  Y7, Y7, Y3
	ADDQ         R8, DI
	DECQ         AX
	JNZ          sums_row

sums_store:
	VMOVUPD Y0, (R10)(DX*2)
	VMOVUPD Y1, 32(R10)(DX*2)
	VMOVUPD Y2, (R11)(DX*2)
	VMOVUPD Y3, 32(R11)(DX*2)
	ADDQ    $32, DX
	JMP     sums_strip

sums_done:
	VZEROUPPER
	RET

// func dotsAVX2(a, b *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32)
TEXT ·dotsAVX2(SB), NOSPLIT, $0-60
	MOVQ         a+0(FP), SI
	MOVQ         b+8(FP), BX
	MOVQ         rows+16(FP), CX
	MOVQ         ch+24(FP), R8
	MOVQ         mu+32(FP), R9
	MOVQ         s1+40(FP), R10
	MOVQ         s2+48(FP), R11
	VBROADCASTSS lo+56(FP), Y11
	SHLQ         $2, R8
	XORQ         DX, DX

dots_strip:
	CMPQ    DX, R8
	JGE     dots_done
	VMOVUPS (R9)(DX*1), Y5
	VMOVUPD (R10)(DX*2), Y0
	VMOVUPD 32(R10)(DX*2), Y1
	VMOVUPD (R11)(DX*2), Y2
	VMOVUPD 32(R11)(DX*2), Y3
	LEAQ    (SI)(DX*1), DI
	LEAQ    (BX)(DX*1), R12
	MOVQ    CX, AX
	TESTQ   AX, AX
	JLE     dots_store

dots_row:
	VMOVUPS      (DI), Y4
	VCVTPS2PD    X4, Y6
	VEXTRACTF128 $1, Y4, X7
	VCVTPS2PD    X7, Y7
	VADDPD       Y6, Y0, Y0
	VADDPD       Y7, Y1, Y1
	VMOVUPS      (R12), Y8
	VMAXPS       Y8, Y11, Y8
	VSUBPS       Y5, Y8, Y8
	VCVTPS2PD    X8, Y9
	VEXTRACTF128 $1, Y8, X10
	VCVTPS2PD    X10, Y10
	VFMADD231PD  Y9, Y6, Y2
	VFMADD231PD  Y10, Y7, Y3
	ADDQ         R8, DI
	ADDQ         R8, R12
	DECQ         AX
	JNZ          dots_row

dots_store:
	VMOVUPD Y0, (R10)(DX*2)
	VMOVUPD Y1, 32(R10)(DX*2)
	VMOVUPD Y2, (R11)(DX*2)
	VMOVUPD Y3, 32(R11)(DX*2)
	ADDQ    $32, DX
	JMP     dots_strip

dots_done:
	VZEROUPPER
	RET

// func affineAVX2(y, x, z *float32, rows, ch int, ka, m, kb, kc *float32, lo, floor, cut float32)
TEXT ·affineAVX2(SB), NOSPLIT, $0-84
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         z+16(FP), BX
	MOVQ         rows+24(FP), CX
	MOVQ         ch+32(FP), R8
	MOVQ         ka+40(FP), AX
	MOVQ         m+48(FP), R9
	MOVQ         kb+56(FP), R10
	MOVQ         kc+64(FP), R11
	VBROADCASTSS lo+72(FP), Y8
	VBROADCASTSS floor+76(FP), Y9
	VBROADCASTSS cut+80(FP), Y10
	SHLQ         $2, R8
	TESTQ        CX, CX
	JLE          rows_done

rows_row:
	XORQ DX, DX

rows_strip:
	VMOVUPS     (SI)(DX*1), Y0
	VCMPPS      $6, Y10, Y0, Y3 // not (x <= cut): the lanes kept
	VMAXPS      Y0, Y8, Y0
	VSUBPS      (R9)(DX*1), Y0, Y0
	VMOVUPS     (R11)(DX*1), Y2
	VFMADD231PS (AX)(DX*1), Y0, Y2
	TESTQ       BX, BX
	JZ          rows_store
	VMOVUPS     (BX)(DX*1), Y1
	VFMADD231PS (R10)(DX*1), Y1, Y2

rows_store:
	VMAXPS  Y2, Y9, Y2
	VANDPS  Y3, Y2, Y2
	VMOVUPS Y2, (DI)(DX*1)
	ADDQ    $32, DX
	CMPQ    DX, R8
	JL      rows_strip
	ADDQ    R8, DI
	ADDQ    R8, SI
	TESTQ   BX, BX
	JZ      rows_next
	ADDQ    R8, BX

rows_next:
	DECQ CX
	JNZ  rows_row

rows_done:
	VZEROUPPER
	RET

// func reluAVX2(y, x *float32, n int)
TEXT ·reluAVX2(SB), NOSPLIT, $0-24
	MOVQ   y+0(FP), DI
	MOVQ   x+8(FP), SI
	MOVQ   n+16(FP), CX
	SHRQ   $3, CX
	VXORPS Y1, Y1, Y1
	TESTQ  CX, CX
	JLE    relu_done

relu_loop:
	VMAXPS  (SI), Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     relu_loop

relu_done:
	VZEROUPPER
	RET

// func reluBackwardAVX2(dx, dy, y *float32, n int)
TEXT ·reluBackwardAVX2(SB), NOSPLIT, $0-32
	MOVQ   dx+0(FP), DI
	MOVQ   dy+8(FP), SI
	MOVQ   y+16(FP), BX
	MOVQ   n+24(FP), CX
	SHRQ   $3, CX
	VXORPS Y1, Y1, Y1
	TESTQ  CX, CX
	JLE    relub_done

relub_loop:
	VMOVUPS (BX), Y0
	VCMPPS  $6, Y1, Y0, Y3 // not (y <= 0): y > 0 or NaN
	VANDPS  (SI), Y3, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, BX
	DECQ    CX
	JNZ     relub_loop

relub_done:
	VZEROUPPER
	RET

// func addAVX2(y, a, b *float32, n int)
TEXT ·addAVX2(SB), NOSPLIT, $0-32
	MOVQ  y+0(FP), DI
	MOVQ  a+8(FP), SI
	MOVQ  b+16(FP), BX
	MOVQ  n+24(FP), CX
	SHRQ  $3, CX
	TESTQ CX, CX
	JLE   add_done

add_loop:
	VMOVUPS (SI), Y0
	VADDPS  (BX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, BX
	DECQ    CX
	JNZ     add_loop

add_done:
	VZEROUPPER
	RET

// func maxPoolRowAVX2(y, top, bottom *float32, ow, ch int)
TEXT ·maxPoolRowAVX2(SB), NOSPLIT, $0-40
	MOVQ  y+0(FP), DI
	MOVQ  top+8(FP), SI
	MOVQ  bottom+16(FP), BX
	MOVQ  ow+24(FP), CX
	MOVQ  ch+32(FP), R8
	SHLQ  $2, R8
	TESTQ CX, CX
	JLE   pool_done

pool_pixel:
	XORQ DX, DX

pool_strip:
	LEAQ    (SI)(DX*1), AX
	VMOVUPS (AX), Y0
	VMAXPS  (AX)(R8*1), Y0, Y0
	LEAQ    (BX)(DX*1), AX
	VMOVUPS (AX), Y1
	VMAXPS  (AX)(R8*1), Y1, Y1
	VMAXPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)(DX*1)
	ADDQ    $32, DX
	CMPQ    DX, R8
	JLT     pool_strip
	ADDQ    R8, DI
	LEAQ    (SI)(R8*2), SI
	LEAQ    (BX)(R8*2), BX
	DECQ    CX
	JNZ     pool_pixel

pool_done:
	VZEROUPPER
	RET

// func maxPoolBackwardRowAVX2(dtop, dbottom, dy, top, bottom *float32, ow, ch int)
TEXT ·maxPoolBackwardRowAVX2(SB), NOSPLIT, $0-56
	MOVQ  dtop+0(FP), R9
	MOVQ  dbottom+8(FP), R10
	MOVQ  dy+16(FP), DI
	MOVQ  top+24(FP), SI
	MOVQ  bottom+32(FP), BX
	MOVQ  ow+40(FP), CX
	MOVQ  ch+48(FP), R8
	SHLQ  $2, R8
	TESTQ CX, CX
	JLE   poolb_done

poolb_pixel:
	XORQ DX, DX

poolb_strip:
	LEAQ    (SI)(DX*1), AX
	VMOVUPS (AX), Y0        // top-left
	VMOVUPS (AX)(R8*1), Y1  // top-right
	LEAQ    (BX)(DX*1), AX
	VMOVUPS (AX), Y2        // bottom-left
	VMOVUPS (AX)(R8*1), Y3  // bottom-right
	VMAXPS  Y1, Y0, Y4
	VMAXPS  Y3, Y2, Y5
	VMAXPS  Y5, Y4, Y4      // the window's maximum
	VMOVUPS (DI)(DX*1), Y6  // dy
	VCMPPS  $0, Y4, Y0, Y8  // top-left is the maximum
	VCMPPS  $0, Y4, Y1, Y9
	VANDNPS Y9, Y8, Y9      // top-right, unless top-left was
	VORPS   Y8, Y9, Y10
	VCMPPS  $0, Y4, Y2, Y11
	VANDNPS Y11, Y10, Y11   // bottom-left, unless an earlier one was
	VORPS   Y10, Y11, Y10   // otherwise bottom-right: not Y10
	VANDPS  Y6, Y8, Y7
	LEAQ    (R9)(DX*1), AX
	VMOVUPS Y7, (AX)
	VANDPS  Y6, Y9, Y7
	VMOVUPS Y7, (AX)(R8*1)
	VANDPS  Y6, Y11, Y7
	LEAQ    (R10)(DX*1), AX
	VMOVUPS Y7, (AX)
	VANDNPS Y6, Y10, Y7
	VMOVUPS Y7, (AX)(R8*1)
	ADDQ    $32, DX
	CMPQ    DX, R8
	JLT     poolb_strip
	ADDQ    R8, DI
	LEAQ    (SI)(R8*2), SI
	LEAQ    (BX)(R8*2), BX
	LEAQ    (R9)(R8*2), R9
	LEAQ    (R10)(R8*2), R10
	DECQ    CX
	JNZ     poolb_pixel

poolb_done:
	VZEROUPPER
	RET

// func adamAVX2(p, grad, m, v *float32, n int, alpha, c1, c2, eps float32)
TEXT ·adamAVX2(SB), NOSPLIT, $0-56
	MOVQ         p+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         m+16(FP), BX
	MOVQ         v+24(FP), DX
	MOVQ         n+32(FP), CX
	VBROADCASTSS alpha+40(FP), Y10
	VBROADCASTSS c1+44(FP), Y11
	VBROADCASTSS c2+48(FP), Y12
	VBROADCASTSS eps+52(FP), Y13
	SHRQ         $3, CX
	TESTQ        CX, CX
	JLE          adam_done

adam_loop:
	VMOVUPS (SI), Y0
	VMOVUPS (BX), Y1
	VMOVUPS (DX), Y2
	VSUBPS  Y1, Y0, Y3
	VMULPS  Y11, Y3, Y3
	VADDPS  Y3, Y1, Y1
	VMULPS  Y0, Y0, Y4
	VSUBPS  Y2, Y4, Y4
	VMULPS  Y12, Y4, Y4
	VADDPS  Y4, Y2, Y2
	VMOVUPS Y1, (BX)
	VMOVUPS Y2, (DX)
	VSQRTPS Y2, Y5
	VADDPS  Y13, Y5, Y5
	VMULPS  Y10, Y1, Y6
	VDIVPS  Y5, Y6, Y6
	VMOVUPS (DI), Y7
	VSUBPS  Y6, Y7, Y7
	VMOVUPS Y7, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, BX
	ADDQ    $32, DX
	DECQ    CX
	JNZ     adam_loop

adam_done:
	VZEROUPPER
	RET

//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 loops of the element-wise and per-channel ops (chan.go). Per-channel
// ops take an (rows, ch) array with ch a multiple of 16 and walk one 16-wide
// column strip at a time, keeping that strip's per-channel values in registers.

// func sumsAVX512(x *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32)
// s1[j] += Σ_r (x'[r,j]-mu[j]); s2[j] += Σ_r (x'[r,j]-mu[j])², the
// differences in float32 and the sums in float64, where x' = max(x, lo):
// lo = 0 is a ReLU, lo = -Inf leaves x as it is (NaN included).
TEXT ·sumsAVX512(SB), NOSPLIT, $0-52
	MOVQ         x+0(FP), SI
	MOVQ         rows+8(FP), CX
	MOVQ         ch+16(FP), R8
	MOVQ         mu+24(FP), R9
	MOVQ         s1+32(FP), R10
	MOVQ         s2+40(FP), R11
	VBROADCASTSS lo+48(FP), Z8
	SHLQ         $2, R8
	XORQ DX, DX // byte offset of the strip in a row of float32

sums_strip:
	CMPQ    DX, R8
	JGE     sums_done
	VMOVUPS (R9)(DX*1), Z5
	VMOVUPD (R10)(DX*2), Z0
	VMOVUPD 64(R10)(DX*2), Z1
	VMOVUPD (R11)(DX*2), Z2
	VMOVUPD 64(R11)(DX*2), Z3
	LEAQ    (SI)(DX*1), DI
	MOVQ    CX, AX
	TESTQ   AX, AX
	JLE     sums_store

sums_row:
	VMOVUPS       (DI), Z4
	VMAXPS        Z4, Z8, Z4 // max(lo, x), x where NaN, as reluAVX512
	VSUBPS        Z5, Z4, Z4
	VCVTPS2PD     Y4, Z6
	VEXTRACTF64X4 $1, Z4, Y7
	VCVTPS2PD     Y7, Z7
	VADDPD        Z6, Z0, Z0
	VADDPD        Z7, Z1, Z1
	VFMADD231PD   Z6, Z6, Z2
	VFMADD231PD   Z7, Z7, Z3
	ADDQ          R8, DI
	DECQ          AX
	JNZ           sums_row

sums_store:
	VMOVUPD Z0, (R10)(DX*2)
	VMOVUPD Z1, 64(R10)(DX*2)
	VMOVUPD Z2, (R11)(DX*2)
	VMOVUPD Z3, 64(R11)(DX*2)
	ADDQ    $64, DX
	JMP     sums_strip

sums_done:
	VZEROUPPER
	RET

// func dotsAVX512(a, b *float32, rows, ch int, mu *float32, s1, s2 *float64, lo float32)
// s1[j] += Σ_r a[r,j]; s2[j] += Σ_r a[r,j]·(max(b[r,j], lo)-mu[j]), the
// difference in float32 and the sums in float64 (lo as in sumsAVX512).
TEXT ·dotsAVX512(SB), NOSPLIT, $0-60
	MOVQ         a+0(FP), SI
	MOVQ         b+8(FP), BX
	MOVQ         rows+16(FP), CX
	MOVQ         ch+24(FP), R8
	MOVQ         mu+32(FP), R9
	MOVQ         s1+40(FP), R10
	MOVQ         s2+48(FP), R11
	VBROADCASTSS lo+56(FP), Z11
	SHLQ         $2, R8
	XORQ DX, DX

dots_strip:
	CMPQ    DX, R8
	JGE     dots_done
	VMOVUPS (R9)(DX*1), Z5
	VMOVUPD (R10)(DX*2), Z0
	VMOVUPD 64(R10)(DX*2), Z1
	VMOVUPD (R11)(DX*2), Z2
	VMOVUPD 64(R11)(DX*2), Z3
	LEAQ    (SI)(DX*1), DI
	LEAQ    (BX)(DX*1), R12
	MOVQ    CX, AX
	TESTQ   AX, AX
	JLE     dots_store

dots_row:
	VMOVUPS       (DI), Z4
	VCVTPS2PD     Y4, Z6
	VEXTRACTF64X4 $1, Z4, Y7
	VCVTPS2PD     Y7, Z7
	VADDPD        Z6, Z0, Z0
	VADDPD        Z7, Z1, Z1
	VMOVUPS       (R12), Z8
	VMAXPS        Z8, Z11, Z8
	VSUBPS        Z5, Z8, Z8
	VCVTPS2PD     Y8, Z9
	VEXTRACTF64X4 $1, Z8, Y10
	VCVTPS2PD     Y10, Z10
	VFMADD231PD   Z9, Z6, Z2
	VFMADD231PD   Z10, Z7, Z3
	ADDQ          R8, DI
	ADDQ          R8, R12
	DECQ          AX
	JNZ           dots_row

dots_store:
	VMOVUPD Z0, (R10)(DX*2)
	VMOVUPD Z1, 64(R10)(DX*2)
	VMOVUPD Z2, (R11)(DX*2)
	VMOVUPD Z3, 64(R11)(DX*2)
	ADDQ    $64, DX
	JMP     dots_strip

dots_done:
	VZEROUPPER
	RET

// func affineAVX512(y, x, z *float32, rows, ch int, ka, m, kb, kc *float32, lo, floor, cut float32)
// y[r,j] = ka[j]·(max(x[r,j], lo)-m[j]) + kc[j] + kb[j]·z[r,j], the last
// term left out where z is nil; then y = max(y, floor), and y = 0 where
// x[r,j] ≤ cut (before lo). lo and floor are 0 for a ReLU, -Inf for
// none; cut is 0 for a ReLU's gradient, NaN (no x is ≤ NaN) for none.
// y may be x or z. Unlike the loops above it runs in memory order, row by
// row and each row's strips in turn, reading the per-channel values from
// L1 in each instruction: these passes are bound by memory, and streaming
// x, z and y front to back was 12-25% faster than a strip at a time
// (which walks them a row apart) on 26x26x32 batches.
TEXT ·affineAVX512(SB), NOSPLIT, $0-84
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         z+16(FP), BX
	MOVQ         rows+24(FP), CX
	MOVQ         ch+32(FP), R8
	MOVQ         ka+40(FP), AX
	MOVQ         m+48(FP), R9
	MOVQ         kb+56(FP), R10
	MOVQ         kc+64(FP), R11
	VBROADCASTSS lo+72(FP), Z8
	VBROADCASTSS floor+76(FP), Z9
	VBROADCASTSS cut+80(FP), Z10
	SHLQ         $2, R8
	TESTQ        CX, CX
	JLE          rows_done

rows_row:
	XORQ DX, DX

rows_strip:
	VMOVUPS     (SI)(DX*1), Z0
	VCMPPS      $6, Z10, Z0, K1 // not (x <= cut): the lanes kept
	VMAXPS      Z0, Z8, Z0
	VSUBPS      (R9)(DX*1), Z0, Z0
	VMOVUPS     (R11)(DX*1), Z2
	VFMADD231PS (AX)(DX*1), Z0, Z2
	TESTQ       BX, BX
	JZ          rows_store
	VMOVUPS     (BX)(DX*1), Z1
	VFMADD231PS (R10)(DX*1), Z1, Z2

rows_store:
	VMAXPS    Z2, Z9, Z2
	VMOVAPS.Z Z2, K1, Z2
	VMOVUPS   Z2, (DI)(DX*1)
	ADDQ      $64, DX
	CMPQ      DX, R8
	JL        rows_strip
	ADDQ      R8, DI
	ADDQ      R8, SI
	TESTQ     BX, BX
	JZ        rows_next
	ADDQ      R8, BX

rows_next:
	DECQ CX
	JNZ  rows_row

rows_done:
	VZEROUPPER
	RET

// func reluAVX512(y, x *float32, n int)
// y[i] = max(x[i], 0) for i < n, n a multiple of 16.
TEXT ·reluAVX512(SB), NOSPLIT, $0-24
	MOVQ   y+0(FP), DI
	MOVQ   x+8(FP), SI
	MOVQ   n+16(FP), CX
	SHRQ   $4, CX
	VPXORD Z1, Z1, Z1
	TESTQ  CX, CX
	JLE    relu_done

relu_loop:
	VMAXPS  (SI), Z1, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     relu_loop

relu_done:
	VZEROUPPER
	RET

// func reluBackwardAVX512(dx, dy, y *float32, n int)
// dx[i] = dy[i] where y[i] > 0 or is NaN, else 0; n a multiple of 16.
TEXT ·reluBackwardAVX512(SB), NOSPLIT, $0-32
	MOVQ   dx+0(FP), DI
	MOVQ   dy+8(FP), SI
	MOVQ   y+16(FP), BX
	MOVQ   n+24(FP), CX
	SHRQ   $4, CX
	VPXORD Z1, Z1, Z1
	TESTQ  CX, CX
	JLE    relub_done

relub_loop:
	VMOVUPS   (BX), Z0
	VCMPPS    $6, Z1, Z0, K1 // not (y <= 0): y > 0 or NaN
	VMOVUPS.Z (SI), K1, Z2
	VMOVUPS   Z2, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DI
	ADDQ      $64, BX
	DECQ      CX
	JNZ       relub_loop

relub_done:
	VZEROUPPER
	RET

// func addAVX512(y, a, b *float32, n int)
// y[i] = a[i] + b[i]; n a multiple of 16.
TEXT ·addAVX512(SB), NOSPLIT, $0-32
	MOVQ  y+0(FP), DI
	MOVQ  a+8(FP), SI
	MOVQ  b+16(FP), BX
	MOVQ  n+24(FP), CX
	SHRQ  $4, CX
	TESTQ CX, CX
	JLE   add_done

add_loop:
	VMOVUPS (SI), Z0
	VADDPS  (BX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	ADDQ    $64, BX
	DECQ    CX
	JNZ     add_loop

add_done:
	VZEROUPPER
	RET

// func maxPoolRowAVX512(y, top, bottom *float32, ow, ch int)
// One output row of a 2x2 max pool: y[ox,j] = max of the window at input
// columns 2ox, 2ox+1 of rows top and bottom; ch a multiple of 16.
TEXT ·maxPoolRowAVX512(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ top+8(FP), SI
	MOVQ bottom+16(FP), BX
	MOVQ ow+24(FP), CX
	MOVQ ch+32(FP), R8
	SHLQ $2, R8        // bytes per pixel
	TESTQ CX, CX
	JLE  pool_done

pool_pixel:
	XORQ DX, DX

pool_strip:
	LEAQ    (SI)(DX*1), AX
	VMOVUPS (AX), Z0
	VMAXPS  (AX)(R8*1), Z0, Z0
	LEAQ    (BX)(DX*1), AX
	VMOVUPS (AX), Z1
	VMAXPS  (AX)(R8*1), Z1, Z1
	VMAXPS  Z1, Z0, Z0
	VMOVUPS Z0, (DI)(DX*1)
	ADDQ    $64, DX
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

// func maxPoolBackwardRowAVX512(dtop, dbottom, dy, top, bottom *float32, ow, ch int)
// One output row of the 2x2 max pool's gradient: each window's first
// maximum (top-left, top-right, bottom-left, bottom-right) gets dy, the
// other three get 0; every element of the two dx rows is written.
TEXT ·maxPoolBackwardRowAVX512(SB), NOSPLIT, $0-56
	MOVQ dtop+0(FP), R9
	MOVQ dbottom+8(FP), R10
	MOVQ dy+16(FP), DI
	MOVQ top+24(FP), SI
	MOVQ bottom+32(FP), BX
	MOVQ ow+40(FP), CX
	MOVQ ch+48(FP), R8
	SHLQ $2, R8
	TESTQ CX, CX
	JLE  poolb_done

poolb_pixel:
	XORQ DX, DX

poolb_strip:
	LEAQ    (SI)(DX*1), AX
	VMOVUPS (AX), Z0             // top-left
	VMOVUPS (AX)(R8*1), Z1       // top-right
	LEAQ    (BX)(DX*1), AX
	VMOVUPS (AX), Z2             // bottom-left
	VMOVUPS (AX)(R8*1), Z3       // bottom-right
	VMAXPS  Z1, Z0, Z4
	VMAXPS  Z3, Z2, Z5
	VMAXPS  Z5, Z4, Z4           // the window's maximum
	VMOVUPS (DI)(DX*1), Z6       // dy
	VCMPPS  $0, Z4, Z0, K1       // top-left is the maximum
	VCMPPS  $0, Z4, Z1, K2
	KANDNW  K2, K1, K2           // top-right, unless top-left was
	KORW    K1, K2, K5
	VCMPPS  $0, Z4, Z2, K3
	KANDNW  K3, K5, K3           // bottom-left, unless an earlier one was
	KORW    K5, K3, K5
	KNOTW   K5, K4               // otherwise bottom-right
	VMOVUPS.Z Z6, K1, Z7
	LEAQ    (R9)(DX*1), AX
	VMOVUPS Z7, (AX)
	VMOVUPS.Z Z6, K2, Z7
	VMOVUPS Z7, (AX)(R8*1)
	VMOVUPS.Z Z6, K3, Z7
	LEAQ    (R10)(DX*1), AX
	VMOVUPS Z7, (AX)
	VMOVUPS.Z Z6, K4, Z7
	VMOVUPS Z7, (AX)(R8*1)
	ADDQ    $64, DX
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

// func adamAVX512(p, grad, m, v *float32, n int, alpha, c1, c2, eps float32)
// The Adam update of adamGo, 16 parameters at a time, with the same
// roundings (no fused multiply-add); n a multiple of 16.
TEXT ·adamAVX512(SB), NOSPLIT, $0-56
	MOVQ         p+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         m+16(FP), BX
	MOVQ         v+24(FP), DX
	MOVQ         n+32(FP), CX
	VBROADCASTSS alpha+40(FP), Z10
	VBROADCASTSS c1+44(FP), Z11
	VBROADCASTSS c2+48(FP), Z12
	VBROADCASTSS eps+52(FP), Z13
	SHRQ         $4, CX
	TESTQ        CX, CX
	JLE          adam_done

adam_loop:
	VMOVUPS (SI), Z0     // g
	VMOVUPS (BX), Z1     // m
	VMOVUPS (DX), Z2     // v
	VSUBPS  Z1, Z0, Z3   // g - m
	VMULPS  Z11, Z3, Z3
	VADDPS  Z3, Z1, Z1   // m += (g - m)·c1
	VMULPS  Z0, Z0, Z4   // g·g
	VSUBPS  Z2, Z4, Z4
	VMULPS  Z12, Z4, Z4
	VADDPS  Z4, Z2, Z2   // v += (g·g - v)·c2
	VMOVUPS Z1, (BX)
	VMOVUPS Z2, (DX)
	VSQRTPS Z2, Z5
	VADDPS  Z13, Z5, Z5  // sqrt(v) + eps
	VMULPS  Z10, Z1, Z6  // alpha·m
	VDIVPS  Z5, Z6, Z6
	VMOVUPS (DI), Z7
	VSUBPS  Z6, Z7, Z7
	VMOVUPS Z7, (DI)
	ADDQ    $64, DI
	ADDQ    $64, SI
	ADDQ    $64, BX
	ADDQ    $64, DX
	DECQ    CX
	JNZ     adam_loop

adam_done:
	VZEROUPPER
	RET

// func prefetchAVX512(p *float32, n int)
// Asks for the cache lines of p[0:n] to be brought into L1 (PREFETCHT0),
// one per 64 bytes; n > 0.
TEXT ·prefetchAVX512(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	LEAQ (SI)(CX*4), CX

prefetch_loop:
	PREFETCHT0 (SI)
	ADDQ       $64, SI
	CMPQ       SI, CX
	JLT        prefetch_loop
	RET

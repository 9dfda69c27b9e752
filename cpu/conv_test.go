package cpu

import (
	"fmt"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// convCase is one convolution shape: input, kernel, padding each side.
type convCase struct {
	name string
	x    nhwc
	k    kernel
	pad  int
}

// TestConv2D checks the forward pass against convRef and every gradient of
// L = Σ G·y against central differences, on one backend so that its
// buffers are reused across shapes.
func TestConv2D(t *testing.T) {
	cases := []convCase{
		{"k3 same", nhwc{2, 7, 6, 3}, kernel{3, 3, 3, 4}, 1},
		{"k3 valid", nhwc{2, 7, 6, 3}, kernel{3, 3, 3, 4}, 0},
		{"k5 same", nhwc{2, 7, 6, 3}, kernel{5, 5, 3, 4}, 2},
		{"k5 valid", nhwc{3, 7, 6, 2}, kernel{5, 5, 2, 5}, 0},
		{"k3 valid cin1", nhwc{2, 9, 8, 1}, kernel{3, 3, 1, 4}, 0},
		{"k3x5 pad1", nhwc{2, 7, 6, 3}, kernel{3, 5, 3, 2}, 1},
		{"k1", nhwc{2, 5, 5, 4}, kernel{1, 1, 4, 3}, 0},
	}
	c := New()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := newConvInputs(t, c, tc, uint64(100+i))
			ys, xv, wv, bv, gv := in.ys, in.xv, in.wv, in.bv, in.gv
			x, w, b, dy := in.x, in.w, in.b, in.dy

			y := garbage(c, ys.n, ys.h, ys.w, ys.c)
			c.Conv2D(y, x, w, b, tc.pad)
			mustSync(t, c)
			checkClose(t, "y", download(t, c, y), convRef(xv, tc.x, wv, tc.k, bv, tc.pad), fwdAtol, fwdRtol)

			dx := garbage(c, tc.x.n, tc.x.h, tc.x.w, tc.x.c)
			dw := garbage(c, tc.k.kh, tc.k.kw, tc.k.cin, tc.k.cout)
			db := garbage(c, tc.k.cout)
			c.Conv2DBackward(dx, dw, db, dy, x, w, tc.pad)
			mustSync(t, c)

			loss := func() float64 { return dot(gv, convRef(xv, tc.x, wv, tc.k, bv, tc.pad)) }
			ndx, ndw, ndb := numGrad(xv, loss), numGrad(wv, loss), numGrad(bv, loss)
			checkGrad(t, "dx", download(t, c, dx), ndx, gradAtol, gradRtol)
			checkGrad(t, "dw", download(t, c, dw), ndw, gradAtol, gradRtol)
			checkGrad(t, "db", download(t, c, db), ndb, gradAtol, gradRtol)

			// The analytic reference used by TestConv2DLarge must agree too.
			adx, adw, adb := convBackwardRef(gv, xv, tc.x, wv, tc.k, tc.pad)
			checkGrad(t, "convBackwardRef dx", adx, ndx, gradAtol, gradRtol)
			checkGrad(t, "convBackwardRef dw", adw, ndw, gradAtol, gradRtol)
			checkGrad(t, "convBackwardRef db", adb, ndb, gradAtol, gradRtol)

			// Without dx (the first layer) dw and db are still written in full.
			dw2, db2 := garbage(c, tc.k.kh, tc.k.kw, tc.k.cin, tc.k.cout), garbage(c, tc.k.cout)
			c.Conv2DBackward(nil, dw2, db2, dy, x, w, tc.pad)
			mustSync(t, c)
			checkGrad(t, "dw (dx nil)", download(t, c, dw2), ndw, gradAtol, gradRtol)
			checkGrad(t, "db (dx nil)", download(t, c, db2), ndb, gradAtol, gradRtol)
		})
	}
}

// TestConv2DLarge uses shapes whose GEMMs span several packed blocks: more
// than kcMax kernel taps (the forward and dx products run over several
// k blocks) and more than kcMax output pixels (dw accumulates over several
// blocks of pixels), with channel counts that are not multiples of the
// 16-wide panels. Shapes are too large for finite differences;
// convBackwardRef, itself checked against finite differences in TestConv2D,
// is the reference.
func TestConv2DLarge(t *testing.T) {
	cases := []convCase{
		{"k5 same, 1600 taps", nhwc{3, 24, 24, 64}, kernel{5, 5, 64, 3}, 2},
		{"k3 valid, 1152 taps", nhwc{2, 29, 30, 128}, kernel{3, 3, 128, 2}, 0},
		{"k5 same, 24 channels", nhwc{2, 40, 40, 24}, kernel{5, 5, 24, 20}, 2},
	}
	c := New()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ys := convOut(tc.x, tc.k, tc.pad)
			if taps, pixels := tc.k.kh*tc.k.kw*tc.k.cin, ys.n*ys.h*ys.w; taps <= kcMax && tc.k.kh*tc.k.kw*tc.k.cout <= kcMax || pixels <= kcMax {
				t.Fatalf("%d taps, %d pixels: the shape no longer spans several blocks of kcMax = %d, grow it", taps, pixels, kcMax)
			}

			checkConvAgainstRef(t, c, tc, uint64(200+i))
		})
	}
}

// TestConv2DBackwardOverwrites runs the backward pass twice: parameter
// gradients are overwritten, never accumulated (backend.Backend contract).
func TestConv2DBackwardOverwrites(t *testing.T) {
	xs, k, pad := nhwc{2, 5, 4, 2}, kernel{3, 3, 2, 3}, 1
	ys := convOut(xs, k, pad)
	r := newRand(300)
	xv, wv, gv := randVals(r, xs.len(), 1), randVals(r, k.len(), 1), randVals(r, ys.len(), 1)
	c := New()
	x, w, dy := upload(t, c, xv, xs.n, xs.h, xs.w, xs.c), upload(t, c, wv, k.kh, k.kw, k.cin, k.cout), upload(t, c, gv, ys.n, ys.h, ys.w, ys.c)
	dx, dw, db := c.Alloc(xs.n, xs.h, xs.w, xs.c), c.Alloc(k.kh, k.kw, k.cin, k.cout), c.Alloc(k.cout)
	rdx, rdw, rdb := convBackwardRef(gv, xv, xs, wv, k, pad)
	for call := 1; call <= 2; call++ {
		c.Conv2DBackward(dx, dw, db, dy, x, w, pad)
		mustSync(t, c)
		checkGrad(t, fmt.Sprintf("call %d dx", call), download(t, c, dx), rdx, gradAtol, gradRtol)
		checkGrad(t, fmt.Sprintf("call %d dw", call), download(t, c, dw), rdw, gradAtol, gradRtol)
		checkGrad(t, fmt.Sprintf("call %d db", call), download(t, c, db), rdb, gradAtol, gradRtol)
	}
}

// TestConv2DDirect runs the direct convolution (direct.go) on shapes with
// 32-multiple channel counts, with the assembly kernel where the CPU has it
// and with the portable one, against convRef and convBackwardRef: odd image
// sizes, rectangular kernels, a single channel in (the first layer), the
// model's 'same' and 'valid' layers, output rows cut into one, two and three
// tiles, and buffers reused across shapes.
func TestConv2DDirect(t *testing.T) {
	cases := []convCase{
		{"k3 same 32-32", nhwc{3, 9, 7, 32}, kernel{3, 3, 32, 32}, 1},
		{"k5 same 32-32", nhwc{2, 11, 10, 32}, kernel{5, 5, 32, 32}, 2},
		{"k3 valid 32-64", nhwc{2, 10, 9, 32}, kernel{3, 3, 32, 64}, 0},
		{"k3 valid cin1", nhwc{3, 12, 11, 1}, kernel{3, 3, 1, 32}, 0},
		{"k3x5 pad1 cin5", nhwc{2, 8, 9, 5}, kernel{3, 5, 5, 32}, 1},
		{"k3x5 pad1 32-32, dy padded 1 and 3", nhwc{2, 6, 8, 32}, kernel{3, 5, 32, 32}, 1},
		{"k1 64-32", nhwc{2, 5, 3, 64}, kernel{1, 1, 64, 32}, 0},
		{"k3 same 17-96", nhwc{1, 6, 6, 17}, kernel{3, 3, 17, 96}, 1},
		{"k3x17 pad1 cin2", nhwc{2, 6, 20, 2}, kernel{3, 17, 2, 32}, 1},
		{"k3 same 32-32 three tiles a row", nhwc{2, 3, 29, 32}, kernel{3, 3, 32, 32}, 1},
		{"k3 valid 32-64 two tiles a row", nhwc{1, 4, 17, 32}, kernel{3, 3, 32, 64}, 0},
	}
	forEachDirectKernel(func(isa string, c *Backend) {
		for i, tc := range cases {
			t.Run(fmt.Sprintf("%s/%s", isa, tc.name), func(t *testing.T) {
				checkConvAgainstRef(t, c, tc, uint64(400+i))
			})
		}
	})
}

// forEachDirectKernel calls run with a fresh backend on the direct
// convolution path, once with each strided kernel the CPU runs: the
// portable one, AVX2, AVX-512 and NEON (the AVX2 run turns AVX-512 off,
// as on a CPU without it); it restores the CPU's own choice after.
func forEachDirectKernel(run func(isa string, c *Backend)) {
	saved := [4]bool{directConv, hasAVX2, hasAVX512, hasNEON}
	defer func() { directConv, hasAVX2, hasAVX512, hasNEON = saved[0], saved[1], saved[2], saved[3] }()
	for _, k := range []struct {
		name               string
		avx2, avx512, neon bool
	}{{"portable", false, false, false}, {"avx2", true, false, false}, {"avx512", true, true, false}, {"neon", false, false, true}} {
		if k.avx2 && !saved[1] || k.avx512 && !saved[2] || k.neon && !saved[3] {
			continue
		}
		directConv, hasAVX2, hasAVX512, hasNEON = true, k.avx2, k.avx512, k.neon
		run(k.name, New())
	}
}

// checkConvAgainstRef runs tc forward and backward on c and compares with
// convRef and convBackwardRef (itself checked against finite differences
// in TestConv2D). Outputs are sums of many float32 products, whose rounding
// scales with the output's RMS rather than with each small output, so the
// forward atol is relative to the RMS; a wrong offset errs by O(RMS).
func checkConvAgainstRef(t *testing.T, c *Backend, tc convCase, seed uint64) {
	t.Helper()
	in := newConvInputs(t, c, tc, seed)
	ys, xv, wv, bv, gv := in.ys, in.xv, in.wv, in.bv, in.gv
	x, w, b, dy := in.x, in.w, in.b, in.dy

	y := garbage(c, ys.n, ys.h, ys.w, ys.c)
	c.Conv2D(y, x, w, b, tc.pad)
	mustSync(t, c)
	want := convRef(xv, tc.x, wv, tc.k, bv, tc.pad)
	checkClose(t, "y", download(t, c, y), want, fwdRtol*rmsOf(want), fwdRtol)

	dx := garbage(c, tc.x.n, tc.x.h, tc.x.w, tc.x.c)
	dw := garbage(c, tc.k.kh, tc.k.kw, tc.k.cin, tc.k.cout)
	db := garbage(c, tc.k.cout)
	c.Conv2DBackward(dx, dw, db, dy, x, w, tc.pad)
	mustSync(t, c)
	rdx, rdw, rdb := convBackwardRef(gv, xv, tc.x, wv, tc.k, tc.pad)
	checkGrad(t, "dx", download(t, c, dx), rdx, gradAtol, gradRtol)
	checkGrad(t, "dw", download(t, c, dw), rdw, gradAtol, gradRtol)
	checkGrad(t, "db", download(t, c, db), rdb, gradAtol, gradRtol)
}

// convInputs are random x, w, b and an output gradient dy for a case, as
// values and as tensors on a backend.
type convInputs struct {
	ys             nhwc
	xv, wv, bv, gv []float64
	x, w, b, dy    backend.Tensor
}

func newConvInputs(t testing.TB, c *Backend, tc convCase, seed uint64) convInputs {
	t.Helper()
	in := convInputs{ys: convOut(tc.x, tc.k, tc.pad)}
	r := newRand(seed)
	in.xv, in.wv, in.bv = randVals(r, tc.x.len(), 1), randVals(r, tc.k.len(), 0.5), randVals(r, tc.k.cout, 0.5)
	in.gv = randVals(r, in.ys.len(), 1)
	in.x = upload(t, c, in.xv, tc.x.n, tc.x.h, tc.x.w, tc.x.c)
	in.w = upload(t, c, in.wv, tc.k.kh, tc.k.kw, tc.k.cin, tc.k.cout)
	in.b = upload(t, c, in.bv, tc.k.cout)
	in.dy = upload(t, c, in.gv, in.ys.n, in.ys.h, in.ys.w, in.ys.c)
	return in
}

// TestConvUnpaddedInPlace: without padding the direct convolution reads an
// allocated input where it stands, past its end into the tail Alloc leaves;
// a view has no tail and is copied. Both must give the same bits.
func TestConvUnpaddedInPlace(t *testing.T) {
	c := New()
	tc := convCase{"conv4", nhwc{3, 10, 9, 32}, kernel{3, 3, 32, 64}, 0}
	in := newConvInputs(t, c, tc, 77)
	whole := c.Alloc(in.x.Len() + 5)
	view := c.View(whole, 5, tc.x.n, tc.x.h, tc.x.w, tc.x.c)
	c.Copy(c.View(whole, 5, in.x.Len()), in.x)
	run := func(x backend.Tensor) (y, dx, dw, db backend.Tensor) {
		y = garbage(c, in.ys.n, in.ys.h, in.ys.w, in.ys.c)
		dx, dw, db = garbage(c, tc.x.n, tc.x.h, tc.x.w, tc.x.c), garbage(c, tc.k.kh, tc.k.kw, tc.k.cin, tc.k.cout), garbage(c, tc.k.cout)
		c.Conv2D(y, x, in.w, in.b, tc.pad)
		c.Conv2DBackward(dx, dw, db, in.dy, x, in.w, tc.pad)
		mustSync(t, c)
		return y, dx, dw, db
	}
	y, dx, dw, db := run(in.x)
	vy, vdx, vdw, vdb := run(view)
	for i, name := range []string{"y", "dx", "dw", "db"} {
		got, want := []backend.Tensor{y, dx, dw, db}[i], []backend.Tensor{vy, vdx, vdw, vdb}[i]
		checkClose(t, name, download(t, c, got), download(t, c, want), 0, 0)
	}
	checkClose(t, "y against the reference", download(t, c, y), convRef(in.xv, tc.x, in.wv, tc.k, in.bv, tc.pad), fwdAtol, fwdRtol)
}

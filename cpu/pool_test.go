package cpu

import (
	"testing"
)

// TestMaxPool2x2 checks the forward pass and the gradient by central
// differences on inputs whose values are distinct and 0.01 apart, so each
// window's maximum is unique and a step of fdStep does not change it.
// An odd last row or column is dropped: its gradient must be 0.
func TestMaxPool2x2(t *testing.T) {
	cases := []struct {
		name string
		x    nhwc
	}{
		{"even", nhwc{2, 6, 4, 3}},
		{"odd height and width", nhwc{2, 7, 5, 3}},
		{"one channel", nhwc{3, 4, 4, 1}},
		{"split across workers", nhwc{5, 9, 8, 5}},
	}
	c := New()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRand(uint64(800 + i))
			xv := distinctVals(r, tc.x.len())
			want, ys := maxPoolRef(xv, tc.x)
			gv := randVals(r, ys.len(), 1)
			x, dy := upload(t, c, xv, tc.x.n, tc.x.h, tc.x.w, tc.x.c), upload(t, c, gv, ys.n, ys.h, ys.w, ys.c)
			y := garbage(c, ys.n, ys.h, ys.w, ys.c)
			c.MaxPool2x2(y, x)
			mustSync(t, c)
			checkClose(t, "y", download(t, c, y), want, 0, 0)

			dx := garbage(c, tc.x.n, tc.x.h, tc.x.w, tc.x.c)
			c.MaxPool2x2Backward(dx, dy, x, y)
			mustSync(t, c)
			loss := func() float64 {
				y, _ := maxPoolRef(xv, tc.x)
				return dot(gv, y)
			}
			checkGrad(t, "dx", download(t, c, dx), numGrad(xv, loss), gradAtol, gradRtol)
		})
	}
}

// TestMaxPool2x2Ties pins the tie rule of the contract: dy goes to the first
// maximum in the order top-left, top-right, bottom-left, bottom-right.
func TestMaxPool2x2Ties(t *testing.T) {
	cases := []struct {
		name   string
		window [4]float64 // top-left, top-right, bottom-left, bottom-right
		want   [4]float64 // dx for dy = 1
	}{
		{"all equal", [4]float64{1, 1, 1, 1}, [4]float64{1, 0, 0, 0}},
		{"top right and bottom left", [4]float64{0, 2, 2, 0}, [4]float64{0, 1, 0, 0}},
		{"bottom row", [4]float64{0, 0, 3, 3}, [4]float64{0, 0, 1, 0}},
		{"top left and bottom right", [4]float64{-1, -2, -2, -1}, [4]float64{1, 0, 0, 0}},
		{"unique bottom right", [4]float64{0, 0, 0, 5}, [4]float64{0, 0, 0, 1}},
	}
	c := New()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := upload(t, c, tc.window[:], 1, 2, 2, 1)
			dy := upload(t, c, []float64{1}, 1, 1, 1, 1)
			dx := garbage(c, 1, 2, 2, 1)
			c.MaxPool2x2Backward(dx, dy, x, c.Alloc(1, 1, 1, 1))
			mustSync(t, c)
			checkClose(t, "dx", download(t, c, dx), tc.want[:], 0, 0)
		})
	}
}

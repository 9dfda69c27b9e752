package cpu

import (
	"testing"
)

// TestDense checks y = x w + b against denseRef and every gradient of
// L = Σ G·y against central differences, with and without dx.
func TestDense(t *testing.T) {
	cases := []struct {
		name       string
		n, in, out int
	}{
		{"3x5 to 4", 3, 5, 4},
		{"one row", 1, 7, 2},
		{"one input", 4, 1, 3},
		{"model head", 8, 50, 10},
		// Enough rows for the bias-gradient column sums to split across workers.
		{"601 rows", 601, 3, 2},
	}
	c := New()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRand(uint64(900 + i))
			xv, wv, bv := randVals(r, tc.n*tc.in, 1), randVals(r, tc.in*tc.out, 1), randVals(r, tc.out, 1)
			gv := randVals(r, tc.n*tc.out, 1)
			x, w, b := upload(t, c, xv, tc.n, tc.in), upload(t, c, wv, tc.in, tc.out), upload(t, c, bv, tc.out)
			dy := upload(t, c, gv, tc.n, tc.out)
			y := garbage(c, tc.n, tc.out)
			c.Dense(y, x, w, b)
			mustSync(t, c)
			checkClose(t, "y", download(t, c, y), denseRef(xv, tc.n, tc.in, wv, tc.out, bv), fwdAtol, fwdRtol)

			dx, dw, db := garbage(c, tc.n, tc.in), garbage(c, tc.in, tc.out), garbage(c, tc.out)
			c.DenseBackward(dx, dw, db, dy, x, w)
			mustSync(t, c)
			loss := func() float64 { return dot(gv, denseRef(xv, tc.n, tc.in, wv, tc.out, bv)) }
			ndx, ndw, ndb := numGrad(xv, loss), numGrad(wv, loss), numGrad(bv, loss)
			checkGrad(t, "dx", download(t, c, dx), ndx, gradAtol, gradRtol)
			checkGrad(t, "dw", download(t, c, dw), ndw, gradAtol, gradRtol)
			checkGrad(t, "db", download(t, c, db), ndb, gradAtol, gradRtol)

			dw2, db2 := garbage(c, tc.in, tc.out), garbage(c, tc.out)
			c.DenseBackward(nil, dw2, db2, dy, x, w)
			mustSync(t, c)
			checkGrad(t, "dw (dx nil)", download(t, c, dw2), ndw, gradAtol, gradRtol)
			checkGrad(t, "db (dx nil)", download(t, c, db2), ndb, gradAtol, gradRtol)
		})
	}
}

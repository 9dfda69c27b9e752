package cpu

import (
	"testing"
)

// TestReLU checks y = max(x, 0) and its gradient against central differences
// on inputs at least 0.05 from the kink, and, for sizes that split across
// workers, against the analytic gradient (finite differences would take one
// forward pass per element).
func TestReLU(t *testing.T) {
	cases := []struct {
		name  string
		shape []int
		fd    bool
	}{
		{"small", []int{2, 5, 3, 4}, true},
		{"odd length", []int{37}, true},
		{"split across workers", []int{3, 101, 101}, false},
	}
	c := New()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRand(uint64(600 + i))
			n := numElements(tc.shape)
			xv, gv := randAway(r, n, 0.05, 1), randVals(r, n, 1)
			x, dy := upload(t, c, xv, tc.shape...), upload(t, c, gv, tc.shape...)
			y := garbage(c, tc.shape...)
			c.ReLU(y, x)
			mustSync(t, c)
			checkClose(t, "y", download(t, c, y), reluRef(xv), 0, 0)

			dx := garbage(c, tc.shape...)
			c.ReLUBackward(dx, dy, y)
			mustSync(t, c)
			var want []float64
			if tc.fd {
				want = numGrad(xv, func() float64 { return dot(gv, reluRef(xv)) })
			} else {
				want = make([]float64, n)
				for j, v := range xv {
					if v > 0 {
						want[j] = gv[j]
					}
				}
			}
			checkGrad(t, "dx", download(t, c, dx), want, gradAtol, gradRtol)

			// dx may be dy, and y may be x.
			c.ReLUBackward(dy, dy, y)
			mustSync(t, c)
			checkGrad(t, "dx in place of dy", download(t, c, dy), want, gradAtol, gradRtol)
			c.ReLU(x, x)
			mustSync(t, c)
			checkClose(t, "y in place of x", download(t, c, x), reluRef(xv), 0, 0)
		})
	}
}

// TestReLUAtZero pins the convention at the kink: y = 0 passes no gradient.
func TestReLUAtZero(t *testing.T) {
	c := New()
	xv := []float64{0, -0.5, 0.5, 0, 1e-30, -1e-30}
	gv := []float64{1, 2, 3, 4, 5, 6}
	x, dy := upload(t, c, xv, len(xv)), upload(t, c, gv, len(gv))
	y, dx := garbage(c, len(xv)), garbage(c, len(xv))
	c.ReLU(y, x)
	c.ReLUBackward(dx, dy, y)
	mustSync(t, c)
	checkClose(t, "y", download(t, c, y), []float64{0, 0, 0.5, 0, float64(float32(1e-30)), 0}, 0, 0)
	checkClose(t, "dx", download(t, c, dx), []float64{0, 0, 3, 0, 5, 0}, 0, 0)
}

// TestAdd checks y = a + b, its gradients (both G) by central differences,
// and that y may be a or b.
func TestAdd(t *testing.T) {
	cases := []struct {
		name  string
		shape []int
		fd    bool
	}{
		{"small", []int{2, 3, 5, 4}, true},
		{"split across workers", []int{3, 121, 101}, false},
	}
	c := New()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRand(uint64(700 + i))
			n := numElements(tc.shape)
			av, bv, gv := randVals(r, n, 1), randVals(r, n, 1), randVals(r, n, 1)
			want := addRef(av, bv)
			a, b := upload(t, c, av, tc.shape...), upload(t, c, bv, tc.shape...)
			y := garbage(c, tc.shape...)
			c.Add(y, a, b)
			mustSync(t, c)
			checkClose(t, "y", download(t, c, y), want, fwdAtol, fwdRtol)
			if tc.fd {
				loss := func() float64 { return dot(gv, addRef(av, bv)) }
				// The backward pass of add is the identity: both gradients are G.
				checkGrad(t, "da", gv, numGrad(av, loss), gradAtol, gradRtol)
				checkGrad(t, "db", gv, numGrad(bv, loss), gradAtol, gradRtol)
			}
			c.Add(a, a, b)
			mustSync(t, c)
			checkClose(t, "y in place of a", download(t, c, a), want, fwdAtol, fwdRtol)
			a = upload(t, c, av, tc.shape...)
			c.Add(b, a, b)
			mustSync(t, c)
			checkClose(t, "y in place of b", download(t, c, b), want, fwdAtol, fwdRtol)
		})
	}
}

package cpu

import (
	"fmt"
	"testing"
)

// TestAdam runs three steps against adamRef, a float64 re-implementation of
// the Keras formula, with fresh gradients each step, and checks the
// parameters, the moments and the parameter change.
func TestAdam(t *testing.T) {
	cases := []struct {
		name                  string
		n                     int
		lr, beta1, beta2, eps float64
	}{
		{"keras defaults", 9, 1e-3, 0.9, 0.999, 1e-7},
		{"large eps, lr 0.01", 9, 1e-2, 0.9, 0.999, 1e-3},
		{"other betas", 5, 3e-3, 0.5, 0.9, 1e-7},
		{"split across workers", 40001, 1e-3, 0.9, 0.999, 1e-7},
	}
	c := New()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRand(uint64(1200 + i))
			p0 := randVals(r, tc.n, 1)
			p, m, v := append([]float64(nil), p0...), make([]float64, tc.n), make([]float64, tc.n)
			params, mt, vt := upload(t, c, p, tc.n), upload(t, c, m, tc.n), upload(t, c, v, tc.n)
			grads := c.Alloc(tc.n)
			for step := 1; step <= 3; step++ {
				g := randVals(r, tc.n, 1)
				g[0] = 0 // no gradient: the step comes from momentum alone
				if tc.n > 1 {
					g[1] = 1e3
				}
				if err := c.Upload(grads, to32(g)); err != nil {
					t.Fatal(err)
				}
				c.Adam(params, grads, mt, vt, step, float32(tc.lr), float32(tc.beta1), float32(tc.beta2), float32(tc.eps))
				mustSync(t, c)
				// float32 hyper-parameters, as the op sees them.
				adamRef(p, g, m, v, step, float64(float32(tc.lr)), float64(float32(tc.beta1)), float64(float32(tc.beta2)), float64(float32(tc.eps)))
				checkClose(t, fmt.Sprintf("step %d m", step), download(t, c, mt), m, 1e-7, 1e-5)
				checkClose(t, fmt.Sprintf("step %d v", step), download(t, c, vt), v, 1e-9, 1e-5)
				checkClose(t, fmt.Sprintf("step %d params", step), download(t, c, params), p, 1e-7, 1e-6)
			}
			// The change is a few lr; float32 parameters near 1 round to 6e-8 per step.
			got, want := download(t, c, params), make([]float64, tc.n)
			for j := range got {
				got[j] -= p0[j]
				want[j] = p[j] - p0[j]
			}
			checkClose(t, "params - initial", got, want, 3e-7, 1e-3)
		})
	}
}

package cpu

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// TestBatchNormMaxPool compares reluBatchNormMaxPool with
// reluBatchNormApply then MaxPool2x2, and maxPoolReLUBatchNormBackward
// with MaxPool2x2Backward then reluBatchNormBackward's dgamma and dbeta,
// to the bit. A third of x is negative, so the ReLU makes ties in many
// windows and the test sees which element gets the gradient; odd sizes
// leave a row and a column no window covers; 5 channels take the portable
// loops.
func TestBatchNormMaxPool(t *testing.T) {
	shapes := [][]int{{3, 24, 24, 64}, {2, 7, 5, 32}, {2, 6, 6, 5}}
	c := New()
	for i, shape := range shapes {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			r := newRand(uint64(2200 + i))
			n, h, w, ch := shape[0], shape[1], shape[2], shape[3]
			pooled := []int{n, h / 2, w / 2, ch}
			xv := randVals(r, numElements(shape), 1)
			for j := 0; j < len(xv); j += 3 {
				xv[j] = -xv[j]*xv[j] - 0.1
			}
			x := upload(t, c, xv, shape...)
			p := newBNInputs(r, ch).upload(t, c)
			c.reluBatchNormTrain(garbage(c, shape...), p.saveMean, p.saveInvStd, x, p.gamma, p.beta, p.movMean, p.movVar, bnMomentum, bnEps)
			dy := upload(t, c, randVals(r, numElements(pooled), 1), pooled...)

			// The separate ops.
			bn, y, dt := garbage(c, shape...), garbage(c, pooled...), garbage(c, shape...)
			dx, dgamma, dbeta := garbage(c, shape...), garbage(c, ch), garbage(c, ch)
			c.reluBatchNormApply(bn, x, p.gamma, p.beta, p.saveMean, p.saveInvStd)
			c.MaxPool2x2(y, bn)
			c.MaxPool2x2Backward(dt, dy, bn, y)
			c.reluBatchNormBackward(dx, dgamma, dbeta, dt, x, p.gamma, p.saveMean, p.saveInvStd)
			// The fused ones.
			fy, fdt, fdgamma, fdbeta := garbage(c, pooled...), garbage(c, shape...), garbage(c, ch), garbage(c, ch)
			c.reluBatchNormMaxPool(fy, x, p.gamma, p.beta, p.saveMean, p.saveInvStd)
			c.maxPoolReLUBatchNormBackward(fdt, fdgamma, fdbeta, dy, x, p.gamma, p.beta, p.saveMean, p.saveInvStd)
			mustSync(t, c)
			for _, o := range []struct {
				what      string
				got, want backend.Tensor
			}{{"pooled", fy, y}, {"dt", fdt, dt}, {"dgamma", fdgamma, dgamma}, {"dbeta", fdbeta, dbeta}} {
				checkClose(t, o.what, download(t, c, o.got), download(t, c, o.want), 0, 0)
			}
		})
	}
}

// TestBatchNormMaxPoolBadInputs: shapes that are not a pooling pair, a
// gradient of the wrong size, or parameters of the wrong channel count
// are each one error, and nothing is written.
func TestBatchNormMaxPoolBadInputs(t *testing.T) {
	c := New()
	shape, pooled := []int{2, 6, 6, 32}, []int{2, 3, 3, 32}
	x := c.Alloc(shape...)
	p := newBNInputs(newRand(2300), 32).upload(t, c)
	short := c.Alloc(16)
	cases := []struct {
		name string
		run  func(out backend.Tensor)
		out  []int
	}{
		{"pool of the wrong size", func(y backend.Tensor) {
			c.reluBatchNormMaxPool(y, x, p.gamma, p.beta, p.saveMean, p.saveInvStd)
		}, []int{2, 2, 3, 32}},
		{"gamma of 16 channels", func(y backend.Tensor) {
			c.reluBatchNormMaxPool(y, x, short, p.beta, p.saveMean, p.saveInvStd)
		}, pooled},
		{"backward: dy not pooled from x", func(dt backend.Tensor) {
			c.maxPoolReLUBatchNormBackward(dt, c.Alloc(32), c.Alloc(32), c.Alloc(2, 6, 3, 32), x, p.gamma, p.beta, p.saveMean, p.saveInvStd)
		}, shape},
		{"backward: dt of the wrong size", func(dt backend.Tensor) {
			c.maxPoolReLUBatchNormBackward(dt, c.Alloc(32), c.Alloc(32), c.Alloc(pooled...), x, p.gamma, p.beta, p.saveMean, p.saveInvStd)
		}, []int{2, 6, 5, 32}},
		{"backward: dgamma of 16 channels", func(dt backend.Tensor) {
			c.maxPoolReLUBatchNormBackward(dt, short, c.Alloc(32), c.Alloc(pooled...), x, p.gamma, p.beta, p.saveMean, p.saveInvStd)
		}, shape},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := c.Alloc(tc.out...)
			c.Fill(out, 7)
			tc.run(out)
			err := c.Sync()
			if err == nil || !strings.Contains(err.Error(), "maxpool") {
				t.Errorf("error %v, want one naming the op", err)
			}
			for i, v := range download(t, c, out) {
				if v != 7 {
					t.Fatalf("output element %d written (%g) by a call that failed", i, v)
				}
			}
		})
	}
}

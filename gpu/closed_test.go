//go:build cgo

package gpu

import (
	"errors"
	"testing"
)

// After Close every op is a no-op and every report is errClosed, also after
// a Sync (which clears ordinary errors). A closed backend needs no GPU, so
// this runs everywhere and exercises each op's early-exit path.
func TestClosedBackendFailsCleanly(t *testing.T) {
	b := &Backend{err: errClosed, closed: true}
	f := func(shape ...int) *Tensor { return &Tensor{shape: shape} }
	i := func(shape ...int) *Tensor { return &Tensor{shape: shape, isInt: true} }
	for round := range 2 {
		x, w, bias, y := f(2, 5, 5, 3), f(3, 3, 3, 4), f(4), f(2, 5, 5, 4)
		b.Conv2D(y, x, w, bias, 1)
		b.Conv2DBackward(f(2, 5, 5, 3), f(3, 3, 3, 4), f(4), y, x, w, 1)
		c := f(4)
		b.BatchNormTrain(y, c, c, y, c, c, c, c, 0.99, 1e-3)
		b.BatchNormInfer(y, y, c, c, c, c, 1e-3)
		b.BatchNormBackward(y, c, c, y, y, c, c, c)
		b.ReLU(y, y)
		b.ReLUBackward(y, y, y)
		b.Add(y, y, y)
		b.MaxPool2x2(f(2, 2, 2, 4), y)
		b.MaxPool2x2Backward(y, f(2, 2, 2, 4), y, f(2, 2, 2, 4))
		b.Dense(f(2, 4), f(2, 3), f(3, 4), c)
		b.DenseBackward(f(2, 3), f(3, 4), c, f(2, 4), f(2, 3), f(3, 4))
		b.SoftmaxCrossEntropy(f(2, 10), f(4), 1, f(2, 10), i(2))
		b.Confusion(f(10, 10), f(2, 10), i(2))
		b.Adam(c, c, c, c, 1, 1e-3, 0.9, 0.999, 1e-7)
		b.Fill(c, 1)
		b.Copy(c, c)
		_ = b.Alloc(3)
		if err := b.Upload(c, make([]float32, 4)); !errors.Is(err, errClosed) {
			t.Errorf("round %d: Upload after Close: %v", round, err)
		}
		if err := b.Download(make([]float32, 4), c); !errors.Is(err, errClosed) {
			t.Errorf("round %d: Download after Close: %v", round, err)
		}
		if _, err := b.UploadDataset(make([]uint8, 4), make([]uint8, 1), 1, 2, 2); !errors.Is(err, errClosed) {
			t.Errorf("round %d: UploadDataset after Close: %v", round, err)
		}
		if err := b.Sync(); !errors.Is(err, errClosed) {
			t.Errorf("round %d: Sync after Close: %v", round, err)
		}
	}
}

// A convolution plan that failed half-way is destroyed without touching
// the descriptors it never created.
func TestPartialConvPlanDestroy(t *testing.T) {
	if err := (&convPlan{}).destroy(); err != nil {
		t.Fatal(err)
	}
	if err := (&batchNormPlan{}).destroy(); err != nil {
		t.Fatal(err)
	}
}

package cpu

import (
	"strings"
	"testing"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// The CPU backend must implement the whole interface.
var _ backend.Backend = (*Backend)(nil)

// TestSyncReportsShapeErrors gives each op mismatched shapes: Sync must return
// an error naming the op, and a second Sync nil (the error is cleared).
func TestSyncReportsShapeErrors(t *testing.T) {
	cases := []struct {
		op   string // the error must contain this
		call func(c *Backend)
	}{
		{"conv2d", func(c *Backend) {
			c.Conv2D(c.Alloc(1, 4, 4, 2), c.Alloc(1, 5, 5, 3), c.Alloc(3, 3, 3, 2), c.Alloc(2), 1)
		}},
		{"conv2d", func(c *Backend) { // Cin of x and w differ
			c.Conv2D(c.Alloc(1, 5, 5, 2), c.Alloc(1, 5, 5, 3), c.Alloc(3, 3, 4, 2), c.Alloc(2), 1)
		}},
		{"conv2d bias", func(c *Backend) {
			c.Conv2D(c.Alloc(1, 5, 5, 2), c.Alloc(1, 5, 5, 3), c.Alloc(3, 3, 3, 2), c.Alloc(3), 1)
		}},
		{"conv2d backward", func(c *Backend) {
			c.Conv2DBackward(c.Alloc(1, 5, 5, 3), c.Alloc(3, 3, 3, 3), c.Alloc(2), c.Alloc(1, 5, 5, 2), c.Alloc(1, 5, 5, 3), c.Alloc(3, 3, 3, 2), 1)
		}},
		{"conv2d backward dx", func(c *Backend) {
			c.Conv2DBackward(c.Alloc(1, 5, 5, 2), c.Alloc(3, 3, 3, 2), c.Alloc(2), c.Alloc(1, 5, 5, 2), c.Alloc(1, 5, 5, 3), c.Alloc(3, 3, 3, 2), 1)
		}},
		{"batchnorm train", func(c *Backend) {
			c.BatchNormTrain(c.Alloc(4, 3), c.Alloc(3), c.Alloc(3), c.Alloc(4, 3), c.Alloc(2), c.Alloc(3), c.Alloc(3), c.Alloc(3), 0.99, 1e-3)
		}},
		{"batchnorm train", func(c *Backend) {
			c.BatchNormTrain(c.Alloc(4, 2), c.Alloc(3), c.Alloc(3), c.Alloc(4, 3), c.Alloc(3), c.Alloc(3), c.Alloc(3), c.Alloc(3), 0.99, 1e-3)
		}},
		{"batchnorm infer", func(c *Backend) {
			c.BatchNormInfer(c.Alloc(4, 3), c.Alloc(4, 3), c.Alloc(3), c.Alloc(3), c.Alloc(3), c.Alloc(4), 1e-3)
		}},
		{"batchnorm backward", func(c *Backend) {
			c.BatchNormBackward(c.Alloc(4, 3), c.Alloc(3), c.Alloc(3), c.Alloc(5, 3), c.Alloc(4, 3), c.Alloc(3), c.Alloc(3), c.Alloc(3))
		}},
		{"relu", func(c *Backend) { c.ReLU(c.Alloc(3), c.Alloc(4)) }},
		{"relu backward", func(c *Backend) { c.ReLUBackward(c.Alloc(4), c.Alloc(3), c.Alloc(4)) }},
		{"add", func(c *Backend) { c.Add(c.Alloc(4), c.Alloc(4), c.Alloc(5)) }},
		{"maxpool", func(c *Backend) { c.MaxPool2x2(c.Alloc(1, 3, 2, 1), c.Alloc(1, 4, 4, 1)) }},
		{"maxpool backward", func(c *Backend) {
			c.MaxPool2x2Backward(c.Alloc(1, 4, 5, 1), c.Alloc(1, 2, 2, 1), c.Alloc(1, 4, 4, 1))
		}},
		{"dense", func(c *Backend) { c.Dense(c.Alloc(2, 3), c.Alloc(2, 4), c.Alloc(5, 3), c.Alloc(3)) }},
		{"dense bias", func(c *Backend) { c.Dense(c.Alloc(2, 3), c.Alloc(2, 4), c.Alloc(4, 3), c.Alloc(2)) }},
		{"dense backward", func(c *Backend) {
			c.DenseBackward(c.Alloc(2, 4), c.Alloc(4, 2), c.Alloc(3), c.Alloc(2, 3), c.Alloc(2, 4), c.Alloc(4, 3))
		}},
		{"dense backward dx", func(c *Backend) {
			c.DenseBackward(c.Alloc(3, 4), c.Alloc(4, 3), c.Alloc(3), c.Alloc(2, 3), c.Alloc(2, 4), c.Alloc(4, 3))
		}},
		{"softmax cross-entropy", func(c *Backend) { // stats too short for slot 1
			c.SoftmaxCrossEntropy(c.Alloc(2, 3), c.Alloc(3), 1, c.Alloc(2, 3), c.AllocInt32(2))
		}},
		{"softmax cross-entropy", func(c *Backend) {
			c.SoftmaxCrossEntropy(c.Alloc(2, 3), c.Alloc(2), 0, c.Alloc(2, 3), c.AllocInt32(3))
		}},
		{"softmax cross-entropy", func(c *Backend) { // label outside the classes
			labels := c.AllocInt32(2)
			_ = c.UploadInt32(labels, []int32{0, 3})
			c.SoftmaxCrossEntropy(nil, c.Alloc(2), 0, c.Alloc(2, 3), labels)
		}},
		{"confusion", func(c *Backend) { c.Confusion(c.Alloc(3, 2), c.Alloc(2, 3), c.AllocInt32(2)) }},
		{"adam", func(c *Backend) { c.Adam(c.Alloc(4), c.Alloc(4), c.Alloc(3), c.Alloc(4), 1, 1e-3, 0.9, 0.999, 1e-7) }},
		{"adam", func(c *Backend) { c.Adam(c.Alloc(4), c.Alloc(4), c.Alloc(4), c.Alloc(4), 0, 1e-3, 0.9, 0.999, 1e-7) }},
		{"gather", func(c *Backend) {
			d, _ := c.UploadDataset(make([]uint8, 3*4), make([]uint8, 3), 3, 2, 2)
			c.GatherBatch(c.Alloc(2, 2, 2, 1), c.AllocInt32(2), d, c.AllocInt32(3), 2) // runs past perm
		}},
		{"gather", func(c *Backend) {
			d, _ := c.UploadDataset(make([]uint8, 3*4), make([]uint8, 3), 3, 2, 2)
			perm := c.AllocInt32(3)
			_ = c.UploadInt32(perm, []int32{0, 3, 1}) // image 3 of 3
			c.GatherBatch(c.Alloc(2, 2, 2, 1), c.AllocInt32(2), d, perm, 0)
		}},
		{"copy", func(c *Backend) { c.Copy(c.Alloc(3), c.Alloc(4)) }},
	}
	for _, tc := range cases {
		t.Run(tc.op, func(t *testing.T) {
			c := New()
			tc.call(c)
			err := c.Sync()
			if err == nil {
				t.Fatalf("Sync after a bad %s returned nil", tc.op)
			}
			if !strings.Contains(err.Error(), tc.op) {
				t.Errorf("Sync error %q does not name %q", err, tc.op)
			}
			if err := c.Sync(); err != nil {
				t.Errorf("second Sync: %v, want nil", err)
			}
		})
	}
}

// TestSyncKeepsFirstError: of several failing ops, Sync reports the first,
// and a good op in between does not clear it.
func TestSyncKeepsFirstError(t *testing.T) {
	c := New()
	c.ReLU(c.Alloc(3), c.Alloc(4))
	c.Add(c.Alloc(2), c.Alloc(2), c.Alloc(2))
	c.Dense(c.Alloc(2, 3), c.Alloc(2, 4), c.Alloc(5, 3), c.Alloc(3))
	err := c.Sync()
	if err == nil || !strings.Contains(err.Error(), "relu") || strings.Contains(err.Error(), "dense") {
		t.Errorf("Sync: %v, want the relu error only", err)
	}
	if err := c.Sync(); err != nil {
		t.Errorf("second Sync: %v, want nil", err)
	}
}

// TestUploadDownloadLengths: transfers of the wrong length return errors at once.
func TestUploadDownloadLengths(t *testing.T) {
	c := New()
	x := c.Alloc(2, 3)
	if err := c.Upload(x, make([]float32, 5)); err == nil {
		t.Error("Upload of 5 values into 6 returned nil")
	}
	if err := c.UploadInt32(c.AllocInt32(2), make([]int32, 3)); err == nil {
		t.Error("UploadInt32 of 3 values into 2 returned nil")
	}
	if err := c.Download(make([]float32, 7), x); err == nil {
		t.Error("Download of 6 values into 7 returned nil")
	}
	if _, err := c.UploadDataset(make([]uint8, 10), make([]uint8, 2), 2, 2, 2); err == nil {
		t.Error("UploadDataset of 10 pixels as 2 images of 2x2 returned nil")
	}
	if err := c.Sync(); err != nil {
		t.Errorf("Sync: %v, want nil (transfer errors are returned, not sticky)", err)
	}
}

package cpu

import (
	"runtime/debug"
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
		name string
		op   string // the error must contain this
		call func(c *Backend)
	}{
		{"conv2d output shape", "conv2d", func(c *Backend) {
			c.Conv2D(c.Alloc(1, 4, 4, 2), c.Alloc(1, 5, 5, 3), c.Alloc(3, 3, 3, 2), c.Alloc(2), 1)
		}},
		{"conv2d cin of x and w differ", "conv2d", func(c *Backend) {
			c.Conv2D(c.Alloc(1, 5, 5, 2), c.Alloc(1, 5, 5, 3), c.Alloc(3, 3, 4, 2), c.Alloc(2), 1)
		}},
		{"conv2d bias length", "conv2d bias", func(c *Backend) {
			c.Conv2D(c.Alloc(1, 5, 5, 2), c.Alloc(1, 5, 5, 3), c.Alloc(3, 3, 3, 2), c.Alloc(3), 1)
		}},
		{"conv2d backward dw shape", "conv2d backward", func(c *Backend) {
			c.Conv2DBackward(c.Alloc(1, 5, 5, 3), c.Alloc(3, 3, 3, 3), c.Alloc(2), c.Alloc(1, 5, 5, 2), c.Alloc(1, 5, 5, 3), c.Alloc(3, 3, 3, 2), 1)
		}},
		{"conv2d backward dx shape", "conv2d backward dx", func(c *Backend) {
			c.Conv2DBackward(c.Alloc(1, 5, 5, 2), c.Alloc(3, 3, 3, 2), c.Alloc(2), c.Alloc(1, 5, 5, 2), c.Alloc(1, 5, 5, 3), c.Alloc(3, 3, 3, 2), 1)
		}},
		{"batchnorm train gamma length", "batchnorm train", func(c *Backend) {
			c.BatchNormTrain(c.Alloc(4, 3), c.Alloc(3), c.Alloc(3), c.Alloc(4, 3), c.Alloc(2), c.Alloc(3), c.Alloc(3), c.Alloc(3), 0.99, 1e-3)
		}},
		{"batchnorm train y length", "batchnorm train", func(c *Backend) {
			c.BatchNormTrain(c.Alloc(4, 2), c.Alloc(3), c.Alloc(3), c.Alloc(4, 3), c.Alloc(3), c.Alloc(3), c.Alloc(3), c.Alloc(3), 0.99, 1e-3)
		}},
		{"batchnorm infer moving var length", "batchnorm infer", func(c *Backend) {
			c.BatchNormInfer(c.Alloc(4, 3), c.Alloc(4, 3), c.Alloc(3), c.Alloc(3), c.Alloc(3), c.Alloc(4), 1e-3)
		}},
		{"batchnorm backward dy length", "batchnorm backward", func(c *Backend) {
			c.BatchNormBackward(c.Alloc(4, 3), c.Alloc(3), c.Alloc(3), c.Alloc(5, 3), c.Alloc(4, 3), c.Alloc(3), c.Alloc(3), c.Alloc(3))
		}},
		{"relu y length", "relu", func(c *Backend) { c.ReLU(c.Alloc(3), c.Alloc(4)) }},
		{"relu backward dy length", "relu backward", func(c *Backend) { c.ReLUBackward(c.Alloc(4), c.Alloc(3), c.Alloc(4)) }},
		{"add b length", "add", func(c *Backend) { c.Add(c.Alloc(4), c.Alloc(4), c.Alloc(5)) }},
		{"maxpool y shape", "maxpool", func(c *Backend) { c.MaxPool2x2(c.Alloc(1, 3, 2, 1), c.Alloc(1, 4, 4, 1)) }},
		{"maxpool backward dx shape", "maxpool backward", func(c *Backend) {
			c.MaxPool2x2Backward(c.Alloc(1, 4, 5, 1), c.Alloc(1, 2, 2, 1), c.Alloc(1, 4, 4, 1), c.Alloc(1, 2, 2, 1))
		}},
		{"dense w shape", "dense", func(c *Backend) { c.Dense(c.Alloc(2, 3), c.Alloc(2, 4), c.Alloc(5, 3), c.Alloc(3)) }},
		{"dense bias length", "dense bias", func(c *Backend) { c.Dense(c.Alloc(2, 3), c.Alloc(2, 4), c.Alloc(4, 3), c.Alloc(2)) }},
		{"dense backward db length", "dense backward", func(c *Backend) {
			c.DenseBackward(c.Alloc(2, 4), c.Alloc(4, 2), c.Alloc(3), c.Alloc(2, 3), c.Alloc(2, 4), c.Alloc(4, 3))
		}},
		{"dense backward dx shape", "dense backward dx", func(c *Backend) {
			c.DenseBackward(c.Alloc(3, 4), c.Alloc(4, 3), c.Alloc(3), c.Alloc(2, 3), c.Alloc(2, 4), c.Alloc(4, 3))
		}},
		{"softmax cross-entropy stats too short for slot 1", "softmax cross-entropy", func(c *Backend) {
			c.SoftmaxCrossEntropy(c.Alloc(2, 3), c.Alloc(3), 1, c.Alloc(2, 3), c.AllocInt32(2))
		}},
		{"softmax cross-entropy labels length", "softmax cross-entropy", func(c *Backend) {
			c.SoftmaxCrossEntropy(c.Alloc(2, 3), c.Alloc(2), 0, c.Alloc(2, 3), c.AllocInt32(3))
		}},
		{"softmax cross-entropy label out of range", "softmax cross-entropy", func(c *Backend) {
			labels := c.AllocInt32(2)
			_ = c.UploadInt32(labels, []int32{0, 3})
			c.SoftmaxCrossEntropy(nil, c.Alloc(2), 0, c.Alloc(2, 3), labels)
		}},
		{"confusion counts shape", "confusion", func(c *Backend) { c.Confusion(c.Alloc(3, 2), c.Alloc(2, 3), c.AllocInt32(2)) }},
		{"adam m length", "adam", func(c *Backend) { c.Adam(c.Alloc(4), c.Alloc(4), c.Alloc(3), c.Alloc(4), 1, 1e-3, 0.9, 0.999, 1e-7) }},
		{"adam step 0", "adam", func(c *Backend) { c.Adam(c.Alloc(4), c.Alloc(4), c.Alloc(4), c.Alloc(4), 0, 1e-3, 0.9, 0.999, 1e-7) }},
		{"gather past the permutation", "gather", func(c *Backend) {
			d, _ := c.UploadDataset(make([]uint8, 3*4), make([]uint8, 3), 3, 2, 2)
			c.GatherBatch(c.Alloc(2, 2, 2, 1), c.AllocInt32(2), d, c.AllocInt32(3), 2)
		}},
		{"gather index past the dataset", "gather", func(c *Backend) {
			d, _ := c.UploadDataset(make([]uint8, 3*4), make([]uint8, 3), 3, 2, 2)
			perm := c.AllocInt32(3)
			_ = c.UploadInt32(perm, []int32{0, 3, 1}) // image 3 of 3
			c.GatherBatch(c.Alloc(2, 2, 2, 1), c.AllocInt32(2), d, perm, 0)
		}},
		{"copy length", "copy", func(c *Backend) { c.Copy(c.Alloc(3), c.Alloc(4)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
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

// TestBadArgumentsDoNotPanic: ops report failures through Sync (the
// backend.Backend contract), so arguments that are wrong but well-typed must
// not panic and must not fail silently. Each case says what it expects.
func TestBadArgumentsDoNotPanic(t *testing.T) {
	cases := []struct {
		name string
		op   string // "" when a no-op with a nil Sync is also acceptable
		call func(c *Backend)
	}{
		// The output is empty (H+2p-KH+1 = 0): a no-op or an error, not a panic.
		{"conv2d kernel larger than the padded input", "", func(c *Backend) {
			c.Conv2D(c.Alloc(1, 0, 0, 1), c.Alloc(1, 4, 4, 1), c.Alloc(5, 5, 1, 1), c.Alloc(1), 0)
		}},
		{"conv2d backward kernel larger than the padded input", "", func(c *Backend) {
			c.Conv2DBackward(nil, c.Alloc(5, 5, 1, 1), c.Alloc(1), c.Alloc(1, 0, 0, 1), c.Alloc(1, 4, 4, 1), c.Alloc(5, 5, 1, 1), 0)
		}},
		{"softmax cross-entropy slot -1", "softmax cross-entropy", func(c *Backend) {
			c.SoftmaxCrossEntropy(nil, c.Alloc(4), -1, c.Alloc(2, 3), c.AllocInt32(2))
		}},
		// Copy checks lengths only; across element types it copies nothing.
		{"copy float32 into int32", "copy", func(c *Backend) {
			src := c.Alloc(3)
			c.Fill(src, 1)
			c.Copy(c.AllocInt32(3), src)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("BUG: panicked (%v at %s) instead of recording an error for Sync", r, panicSite())
				}
			}()
			tc.call(c)
			err := c.Sync()
			switch {
			case tc.op != "" && err == nil:
				t.Errorf("BUG: Sync returned nil: the failure is silent, want an error naming %q", tc.op)
			case tc.op != "" && !strings.Contains(err.Error(), tc.op):
				t.Errorf("Sync error %q does not name %q", err, tc.op)
			}
		})
	}
}

// panicSite is the first line of this package's non-test code in the stack of
// a recovered panic, to say where the op failed.
func panicSite() string {
	for _, line := range strings.Split(string(debug.Stack()), "\n") {
		line = strings.TrimSpace(line)
		if strings.Contains(line, "/cpu/") && strings.Contains(line, ".go:") && !strings.Contains(line, "_test.go") {
			if i := strings.Index(line, "/cpu/"); i >= 0 {
				line = line[i+1:]
			}
			if i := strings.Index(line, " +0x"); i >= 0 {
				line = line[:i]
			}
			return line
		}
	}
	return "unknown site"
}

package cpu

import (
	"fmt"

	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// dataset keeps the raw bytes; scaling to [0,1] happens per batch, which
// costs little and keeps the resident set at a quarter of a float copy.
type dataset struct {
	pixels, labels []uint8
	n, h, w        int
}

func (d *dataset) Len() int     { return d.n }
func (d *dataset) Close() error { return nil }

func (c *Backend) UploadDataset(pixels, labels []uint8, n, h, w int) (backend.Dataset, error) {
	if len(pixels) != n*h*w || len(labels) != n {
		return nil, fmt.Errorf("cpu: dataset of %d pixels and %d labels does not hold %d images of %dx%d", len(pixels), len(labels), n, h, w)
	}
	return &dataset{pixels: pixels, labels: labels, n: n, h: h, w: w}, nil
}

func (c *Backend) GatherBatch(x, y backend.Tensor, ds backend.Dataset, perm backend.Tensor, offset int) {
	d := ds.(*dataset)
	xs, ys, p := f32(x), i32(y), i32(perm)
	size := d.h * d.w
	batch := len(ys)
	if len(xs) != batch*size || offset < 0 || offset+batch > len(p) {
		c.fail("gather: batch %v of %d labels at offset %d of a permutation of %d", x.Shape(), batch, offset, len(p))
		return
	}
	for b := 0; b < batch; b++ {
		idx := int(p[offset+b])
		if idx < 0 || idx >= d.n {
			c.fail("gather: index %d outside a dataset of %d", idx, d.n)
			return
		}
		src := d.pixels[idx*size : (idx+1)*size]
		dst := xs[b*size : (b+1)*size]
		for i, v := range src {
			dst[i] = float32(v) / 255
		}
		ys[b] = int32(d.labels[idx])
	}
}

//go:build cgo

package gpu

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/mnistgpu/mnistgpu/gpu/internal/cuda"
	"github.com/mnistgpu/mnistgpu/internal/backend"
)

// sameLen checks that every tensor has n elements.
func (b *Backend) sameLen(op string, n int, ts ...backend.Tensor) bool {
	for _, t := range ts {
		if t.Len() != n {
			b.failf("%s: tensor of shape %v, want %d elements", op, t.Shape(), n)
			return false
		}
	}
	return b.err == nil
}

// dataset is a set of uint8 images and labels in device memory.
type dataset struct {
	b              *Backend
	pixels, labels cuda.DevicePtr
	n, h, w        int
}

func (d *dataset) Len() int { return d.n }

func (d *dataset) Close() error {
	if _, open := d.b.datasets[d]; !open {
		return nil
	}
	delete(d.b.datasets, d)
	return errors.Join(cuda.MemFree(d.pixels), cuda.MemFree(d.labels))
}

func (b *Backend) UploadDataset(pixels, labels []uint8, n, h, w int) (backend.Dataset, error) {
	if n <= 0 || len(pixels) != n*h*w || len(labels) != n {
		return nil, fmt.Errorf("cuda: dataset of %d pixels and %d labels does not hold %d images of %dx%d", len(pixels), len(labels), n, h, w)
	}
	if b.err != nil {
		return nil, b.Sync()
	}
	d := &dataset{b: b, n: n, h: h, w: w}
	var err error
	if d.pixels, err = malloc(len(pixels), fmt.Sprintf("the dataset's %d images", n)); err != nil {
		return nil, err
	}
	if d.labels, err = malloc(len(labels), "the dataset's labels"); err != nil {
		_ = cuda.MemFree(d.pixels)
		return nil, err
	}
	b.datasets[d] = struct{}{}
	if err := b.stream.CopyToDevice(d.pixels, unsafe.Pointer(&pixels[0]), len(pixels)); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	if err := b.stream.CopyToDevice(d.labels, unsafe.Pointer(&labels[0]), len(labels)); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	return d, nil
}

func (b *Backend) GatherBatch(x, y backend.Tensor, ds backend.Dataset, perm backend.Tensor, offset int) {
	d, ok := ds.(*dataset)
	if !ok {
		panic(fmt.Sprintf("gpu: want a cuda dataset, got %T", ds))
	}
	batch, size := y.Len(), d.h*d.w
	if x.Len() != batch*size || offset < 0 || offset+batch > perm.Len() {
		b.failf("gather: batch %v of %d labels at offset %d of a permutation of %d", x.Shape(), batch, offset, perm.Len())
		return
	}
	b.launch("gather_batch", batch*size, func(a *cuda.Args) {
		a.Ptr(ptr(x)).Ptr(ptr(y)).Ptr(d.pixels).Ptr(d.labels).Int(d.n).Ptr(ptr(perm)).Int(offset).Int(batch).Int(size)
	})
}

func (b *Backend) ReLU(y, x backend.Tensor) {
	n := x.Len()
	if b.sameLen("relu", n, y) {
		b.launch("relu", n, func(a *cuda.Args) { a.Ptr(ptr(y)).Ptr(ptr(x)).Int64(int64(n)) })
	}
}

func (b *Backend) ReLUBackward(dx, dy, y backend.Tensor) {
	n := y.Len()
	if b.sameLen("relu backward", n, dx, dy) {
		b.launch("relu_backward", n, func(a *cuda.Args) { a.Ptr(ptr(dx)).Ptr(ptr(dy)).Ptr(ptr(y)).Int64(int64(n)) })
	}
}

func (b *Backend) Add(y, x1, x2 backend.Tensor) {
	n := y.Len()
	if b.sameLen("add", n, x1, x2) {
		b.launch("add", n, func(a *cuda.Args) { a.Ptr(ptr(y)).Ptr(ptr(x1)).Ptr(ptr(x2)).Int64(int64(n)) })
	}
}

// addBias adds b[c] to channel c of y (channels innermost).
func (b *Backend) addBias(y, bias backend.Tensor) {
	n, channels := y.Len(), bias.Len()
	if channels == 0 || n%channels != 0 {
		b.failf("bias of %d for an output of shape %v", channels, y.Shape())
		return
	}
	b.launch("bias_add", n, func(a *cuda.Args) { a.Ptr(ptr(y)).Ptr(ptr(bias)).Int64(int64(n)).Int(channels) })
}

// channelSums writes db[c] = sum over rows of dy viewed as (rows, channels):
// a matrix-vector product with a vector of ones.
func (b *Backend) channelSums(db, dy backend.Tensor) {
	channels := db.Len()
	if channels == 0 || dy.Len()%channels != 0 {
		b.failf("bias gradient of %d for a gradient of shape %v", channels, dy.Shape())
		return
	}
	rows := dy.Len() / channels
	ones, ok := b.onesVector(rows)
	if ok {
		// dy is column-major (channels x rows) with leading dimension channels.
		b.fail(b.blas.Sgemv(false, channels, rows, 1, ptr(dy), channels, ones, 0, ptr(db)))
	}
}

func (b *Backend) poolShape(op string, x, y backend.Tensor) (n, h, w, c int, ok bool) {
	s := x.Shape()
	if len(s) != 4 || y.Len() != s[0]*(s[1]/2)*(s[2]/2)*s[3] {
		b.failf("%s: input %v, output %v do not fit a 2x2 pool", op, s, y.Shape())
		return 0, 0, 0, 0, false
	}
	return s[0], s[1], s[2], s[3], b.err == nil
}

func (b *Backend) MaxPool2x2(y, x backend.Tensor) {
	n, h, w, c, ok := b.poolShape("maxpool", x, y)
	if ok {
		b.launch("maxpool2x2", y.Len(), func(a *cuda.Args) { a.Ptr(ptr(y)).Ptr(ptr(x)).Int(n).Int(h).Int(w).Int(c) })
	}
}

func (b *Backend) MaxPool2x2Backward(dx, dy, x, y backend.Tensor) {
	n, h, w, c, ok := b.poolShape("maxpool backward", x, dy)
	if !ok || !b.sameLen("maxpool backward", x.Len(), dx) || !b.sameLen("maxpool backward y", dy.Len(), y) {
		return
	}
	if h%2 != 0 || w%2 != 0 {
		// The kernel writes only full windows; the odd last row or column gets no gradient.
		b.Fill(dx, 0)
	}
	b.launch("maxpool2x2_backward", dy.Len(), func(a *cuda.Args) {
		a.Ptr(ptr(dx)).Ptr(ptr(dy)).Ptr(ptr(x)).Int(n).Int(h).Int(w).Int(c)
	})
}

func (b *Backend) SoftmaxCrossEntropy(dlogits, stats backend.Tensor, slot int, logits, labels backend.Tensor) {
	s := logits.Shape()
	if len(s) != 2 || labels.Len() != s[0] || (dlogits != nil && dlogits.Len() != logits.Len()) || slot < 0 || 2*slot+1 >= stats.Len() {
		b.failf("softmax cross-entropy: logits %v, labels %v, stats %v slot %d do not fit", s, labels.Shape(), stats.Shape(), slot)
		return
	}
	rows, classes := s[0], s[1]
	// One thread per row, no grid-stride: each block reduces its rows' sums.
	blocks := (rows + threadsPerBlock - 1) / threadsPerBlock
	b.launchBlocks("softmax_cross_entropy", blocks, rows, func(a *cuda.Args) {
		a.Ptr(ptr(dlogits)).Ptr(ptr(stats)).Int(slot).Ptr(ptr(logits)).Ptr(ptr(labels)).Int(rows).Int(classes)
	})
}

func (b *Backend) Confusion(counts, logits, labels backend.Tensor) {
	s := logits.Shape()
	if len(s) != 2 || labels.Len() != s[0] || counts.Len() != s[1]*s[1] {
		b.failf("confusion: logits %v, labels %v, counts %v do not fit", s, labels.Shape(), counts.Shape())
		return
	}
	b.launch("confusion", s[0], func(a *cuda.Args) {
		a.Ptr(ptr(counts)).Ptr(ptr(logits)).Ptr(ptr(labels)).Int(s[0]).Int(s[1])
	})
}

func (b *Backend) Adam(params, grads, m, v backend.Tensor, step int, lr, beta1, beta2, eps float32) {
	n := params.Len()
	if !b.sameLen("adam", n, grads, m, v) {
		return
	}
	if step < 1 {
		b.failf("adam: step %d, want ≥ 1", step)
		return
	}
	alpha := backend.AdamStepSize(lr, beta1, beta2, step)
	b.launch("adam", n, func(a *cuda.Args) {
		a.Ptr(ptr(params)).Ptr(ptr(grads)).Ptr(ptr(m)).Ptr(ptr(v)).Int64(int64(n)).Float(alpha).Float(beta1).Float(beta2).Float(eps)
	})
}

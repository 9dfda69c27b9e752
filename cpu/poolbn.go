package cpu

import "github.com/mnistgpu/mnistgpu/internal/backend"

// A ReLU batch norm whose output only a 2x2 max pool reads
// (the pooling conv unit). Each worker normalizes one pair of rows
// into its own scratch, small enough for L1, and pools it there, so the
// normalized activations are never written to memory and read back. The
// backward pass normalizes each pair again to find the windows' maxima:
// the same map on the same values gives the same bits, so the same
// element of each window gets the gradient as in MaxPool2x2Backward. It
// adds up the batch norm's sums on each pair of gradient rows as it
// writes them, image by image in pixel order like BatchNormBackward.

func (c *Backend) reluBatchNormMaxPool(y, x, gamma, beta, saveMean, saveInvStd backend.Tensor) {
	const op = "relu batchnorm maxpool"
	n, h, w, ch, ok := c.poolShape(op, x, y)
	if !ok {
		return
	}
	if _, _, ok := c.bnShape(op, x, gamma, beta, saveMean, saveInvStd); !ok {
		return
	}
	t := &c.bnWork.bnPool
	*t = bnPoolTask{y: f32(y), x: f32(x), h: h, w: w, ch: ch, scratch: c.rowPairs(w * ch),
		f: c.normalizing(f32(saveMean), f32(saveInvStd), f32(gamma), f32(beta), rowSteps{reluIn: true})}
	c.pool.dynamic(n*(h/2), 4, t)
}

func (c *Backend) maxPoolReLUBatchNormBackward(dt, dgamma, dbeta, dy, x, gamma, beta, saveMean, saveInvStd backend.Tensor) {
	const op = "maxpool relu batchnorm backward"
	n, h, w, ch, ok := c.poolShape(op, x, dy)
	if !ok || !c.sameLen(op, x.Len(), dt) {
		return
	}
	if _, _, ok := c.bnShape(op, x, dgamma, dbeta, gamma, beta, saveMean, saveInvStd); !ok {
		return
	}
	t := &c.bnWork.bnPoolBackward
	*t = bnPoolBackwardTask{dt: f32(dt), dy: f32(dy), x: f32(x), h: h, w: w, ch: ch, scratch: c.rowPairs(w * ch),
		f:    c.normalizing(f32(saveMean), f32(saveInvStd), f32(gamma), f32(beta), rowSteps{reluIn: true}),
		mean: f32(saveMean), sums: grown(&c.bnWork.groupSums, 2*n*ch)}
	c.pool.dynamic(n, 1, t)
	s1, s2 := c.addGroups(t.sums, n, ch)
	c.saveBackwardSums(s1, s2, dgamma, dbeta, saveInvStd)
}

// rowPairs is a scratch of two rows of rowLen values per worker.
func (c *Backend) rowPairs(rowLen int) []float32 {
	return grown(&c.bnWork.pairScratch, c.pool.size*2*rowLen)
}

// bnPoolTask: items are (image, output row) pairs, as in maxPoolTask.
type bnPoolTask struct {
	y, x, scratch []float32
	h, w, ch      int
	f             affineMap
}

func (t *bnPoolTask) run(worker, lo, hi int) {
	h, w, ch := t.h, t.w, t.ch
	oh, ow, pair := h/2, w/2, 2*w*ch
	s := t.scratch[worker*pair : (worker+1)*pair]
	for r := lo; r < hi; r++ {
		img, oy := r/oh, r%oh
		top := ((img*h + 2*oy) * w) * ch
		t.f.rows(s, t.x[top:top+pair], nil, 2*w, ch)
		maxPoolRow(t.y[(img*oh+oy)*ow*ch:], s, s[w*ch:], ow, ch)
	}
}

// bnPoolBackwardTask: items are images, each with its own sums (images ×
// 2·ch, as channelSumsTask's partials).
type bnPoolBackwardTask struct {
	dt, dy, x, scratch []float32
	h, w, ch           int
	f                  affineMap
	mean               []float32
	sums               []float64
}

func (t *bnPoolBackwardTask) run(worker, lo, hi int) {
	h, w, ch := t.h, t.w, t.ch
	oh, ow, rowLen := h/2, w/2, w*ch
	s := t.scratch[worker*2*rowLen : (worker+1)*2*rowLen]
	for img := lo; img < hi; img++ {
		s1, s2 := groupPair(t.sums, img, ch)
		image := img * h * rowLen
		if h%2 != 0 || w%2 != 0 {
			clear(t.dt[image : image+h*rowLen]) // the row or column no window covers
		}
		for oy := range oh {
			top := image + 2*oy*rowLen
			t.f.rows(s, t.x[top:top+2*rowLen], nil, 2*w, ch)
			maxPoolBackwardRow(t.dt[top:], t.dt[top+rowLen:], t.dy[(img*oh+oy)*ow*ch:], s, s[rowLen:], ow, ch)
			dotsBlock(t.dt[top:top+2*rowLen], t.x[top:top+2*rowLen], 2*w, ch, t.mean, s1, s2, true)
		}
		if h%2 != 0 {
			// The uncovered row's gradient is zero, but its x is summed
			// as the separate op sums it, so a NaN there still spreads.
			last := image + (h-1)*rowLen
			dotsBlock(t.dt[last:last+rowLen], t.x[last:last+rowLen], w, ch, t.mean, s1, s2, true)
		}
	}
}

package cpu

// A tile epilogue is batch-norm work that a direct convolution does on
// each tile of its output right after the kernel writes it, while the tile
// is in L1, so that the batch norm does not make a pass of its own over the
// activations for it. Its sums are per image, in pixel order, laid out as
// channelSumsTask's partials (images × 2·ch), so that added up in image
// order they match the separate ops' sums to the bit.
type tileEpilogue struct {
	kind epilogueKind
	sums []float64
	// mean is what the sums are taken around: zeros for outputStats, the
	// batch norm's saved mean for inputGradient.
	mean []float32
	// relu: outputStats sums max(y, 0); inputGradient takes max(bnX, 0)
	// for bnX.
	relu bool
	// inputGradient: g = y + addend (nil for none), zeroed where mask ≤ 0
	// (nil for none), written back, and summed as Σg and Σg·(bnX-mean).
	// normalized: y = affine(y, addend), in place.
	addend, mask, bnX []float32
	// maskRows places the mask's rows, which may be stored padded.
	maskRows rowLayout
	affine   affineMap
}

type epilogueKind int

const (
	noEpilogue epilogueKind = iota
	// outputStats adds up Σy and Σy² for the batch norm after the
	// convolution (conv2DBatchStats).
	outputStats
	// inputGradient takes the gradient of a convolution's input on
	// through the ReLU and into the sums of the batch norm before the
	// convolution (conv2DBackwardBN).
	inputGradient
	// normalized applies an inference-mode batch norm (and its ReLU and
	// residual sum) to the tile: its statistics are known beforehand, so
	// the output is written once, normalized (conv2DReLUBatchNormInfer,
	// conv2DBatchNormAddReLUInfer).
	normalized
)

// summing says whether the epilogue adds up per-image sums.
func (e *tileEpilogue) summing() bool { return e.kind == outputStats || e.kind == inputGradient }

// imageSums clears and returns image img's two sums.
func (e *tileEpilogue) imageSums(img, ch int) (s1, s2 []float64) {
	if !e.summing() {
		return nil, nil
	}
	return groupPair(e.sums, img, ch)
}

// maskStart is where the mask's values for the tile at element at of the
// output start: row row of the output, from pixel ox, ch channels.
func (e *tileEpilogue) maskStart(at, row, ox, ch int) int {
	if e.maskRows.pad == 0 {
		return at
	}
	return e.maskRows.start(row) + ox*ch
}

// prefetch asks for the operands of the tile at element at (n elements;
// its mask's from maskAt) to be loaded while the kernel computes it: the
// epilogue runs between two kernel calls, where waiting for memory stalls
// the core.
func (e *tileEpilogue) prefetch(at, maskAt, n int) {
	if e.addend != nil { // normalized and inputGradient only
		prefetch(e.addend[at : at+n])
	}
	if e.kind != inputGradient {
		return
	}
	if e.mask != nil {
		prefetch(e.mask[maskAt : maskAt+n])
	}
	prefetch(e.bnX[at : at+n])
}

// tile runs the epilogue on y, rows × ch values that start at element at
// of the output (at maskAt in the mask).
func (e *tileEpilogue) tile(y []float32, at, maskAt, rows, ch int, s1, s2 []float64) {
	switch e.kind {
	case outputStats:
		sumsBlock(y, rows, ch, e.mean, s1, s2, e.relu)
	case inputGradient:
		n := rows * ch
		if e.addend != nil {
			add(y, y, e.addend[at:at+n])
		}
		if e.mask != nil {
			reluBackward(y, y, e.mask[maskAt:maskAt+n])
		}
		dotsBlock(y, e.bnX[at:at+n], rows, ch, e.mean, s1, s2, e.relu)
	case normalized:
		var z []float32
		if e.addend != nil {
			z = e.addend[at : at+rows*ch]
		}
		e.affine.rows(y, y, z, rows, ch)
	}
}

// pendingGradient is a dy that a batch norm's backward pass has not
// written: dy = f(x, g) (see backwardAffine). A convolution's backward pass
// computes it row by row as it lays dy out in its padded layout, so dy is
// never stored unpadded and read back.
type pendingGradient struct {
	x, g []float32
	f    affineMap
}

// rows writes into dst the n = rows·ch values of dy that start at element
// at.
func (p *pendingGradient) rows(dst []float32, at, rows, ch int) {
	n := rows * ch
	p.f.rows(dst, p.x[at:at+n], p.g[at:at+n], rows, ch)
}

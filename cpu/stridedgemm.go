package cpu

// stridedGemm is gemm on the strided kernel, for n a multiple of 32 where
// the AVX-512 kernel runs: A is read in place (a tile's rows are a fixed
// stride apart whether A is stored as is or transposed), B in place when
// stored k×n and after one transposing copy otherwise. Work is split over
// row tiles, except when C is small and k large (the weight gradient of a
// convolution): then each worker sums its own range of k into a partial C.

// stridedKBlock is the depth of one pass over a tile when k is split: a
// block of A (kb × m) and B (kb × 32) that stays in L2.
const stridedKBlock = 256

// splitKGroups is the most ranges of k a split-k product is cut into.
const splitKGroups = 8

// stridedTransBRows is the fewest rows of A for which gemm transposes B
// and uses the strided kernel.
const stridedTransBRows = 1024

type stridedGemmTask struct {
	a, b        []float32
	c           []float32 // c itself (split by rows) or the partials (split by k)
	transA      bool
	m, n, k     int
	rowTiles    int
	splitK      bool
	kPerGroup   int
	calls       []stridedCall
	zeroOffs    []int
	accumulate  bool
	colBlocks   int
	partialSize int
	packed      [][]float32 // per worker: A block in row-tile panels (split over k)
}

func (t *stridedGemmTask) tile(s *stridedCall, c []float32, tile, cb, p0, kb int, accumulate bool, packed []float32) {
	i0 := tile * maxMR
	s.mr = min(maxMR, t.m-i0)
	s.kPerTap = kb
	switch {
	case packed != nil:
		s.a, s.ar, s.ap = packed[tile*kb*maxMR:], 1, maxMR
	case t.transA:
		s.a, s.ar, s.ap = t.a[p0*t.m+i0:], 1, t.m
	default:
		s.a, s.ar, s.ap = t.a[i0*t.k+p0:], t.k, 1
	}
	s.b, s.bp = t.b[p0*t.n+cb*stridedCols:], t.n
	for r := range s.mr {
		at := (i0+r)*t.n + cb*stridedCols
		s.rows[r] = c[at : at+stridedCols]
	}
	stridedKernel(s, accumulate)
}

func (t *stridedGemmTask) run(worker, lo, hi int) {
	s := &t.calls[worker]
	*s = stridedCall{offs: t.zeroOffs, offsBytes: t.zeroOffs}
	if !t.splitK {
		for item := lo; item < hi; item++ {
			t.tile(s, t.c, item/t.colBlocks, item%t.colBlocks, 0, t.k, t.accumulate, nil)
		}
		return
	}
	// Items are fixed ranges of k; each is summed into its own partial.
	for g := lo; g < hi; g++ {
		part := t.c[g*t.partialSize : (g+1)*t.partialSize]
		p0, p1 := g*t.kPerGroup, min((g+1)*t.kPerGroup, t.k)
		first := true
		for pb := p0; pb < p1; pb += stridedKBlock {
			kb := min(stridedKBlock, p1-pb)
			packed := t.packA(t.packed[worker], pb, kb)
			for tile := range t.rowTiles {
				for cb := range t.colBlocks {
					t.tile(s, part, tile, cb, pb, kb, !first, packed)
				}
			}
			first = false
		}
		if first {
			clear(part)
		}
	}
}

// packA copies rows [p0, p0+kb) of A's k axis into maxMR-wide panels, one
// per row tile (zero past m), so that a tile's kernel reads A contiguously
// rather than one short run per k step.
func (t *stridedGemmTask) packA(dst []float32, p0, kb int) []float32 {
	dst = dst[:t.rowTiles*kb*maxMR]
	full := t.m / maxMR
	panelLen := kb * maxMR
	if !t.transA {
		// Row by row, so each row of A streams in order; the panel,
		// written at a stride of maxMR, stays in L1.
		for tile := range t.rowTiles {
			i0 := tile * maxMR
			panel := dst[tile*panelLen : (tile+1)*panelLen]
			rows := min(maxMR, t.m-i0)
			for r := range rows {
				for p, v := range t.a[(i0+r)*t.k+p0 : (i0+r)*t.k+p0+kb] {
					panel[p*maxMR+r] = v
				}
			}
			for r := rows; r < maxMR; r++ {
				for p := range kb {
					panel[p*maxMR+r] = 0
				}
			}
		}
		return dst
	}
	// A transposed: one row of the k axis at a time, so A streams in order.
	for p := range kb {
		for tile := range t.rowTiles {
			i0 := tile * maxMR
			out := (*[maxMR]float32)(dst[tile*panelLen+p*maxMR:])
			if tile < full {
				*out = *(*[maxMR]float32)(t.a[(p0+p)*t.m+i0:])
				continue
			}
			*out = [maxMR]float32{}
			copy(out[:], t.a[(p0+p)*t.m+i0:(p0+p+1)*t.m])
		}
	}
	return dst
}

// stridedGemm computes c = a·b + beta·c like gemm; the caller checks
// canDirect(n).
func (c *Backend) stridedGemm(transA, transB bool, m, n, k int, a, b []float32, beta float32, cm []float32) {
	cm = cm[:m*n]
	if transB {
		bt := grown(&c.gemmWork.transB, k*n)
		for j := range n {
			for p, v := range b[j*k : (j+1)*k] {
				bt[p*n+j] = v
			}
		}
		b = bt
	}
	t := &c.gemmWork.strided
	*t = stridedGemmTask{a: a, b: b, c: cm, transA: transA, m: m, n: n, k: k,
		rowTiles: (m + maxMR - 1) / maxMR, colBlocks: n / stridedCols,
		calls: c.stridedCalls(), zeroOffs: grown(&c.gemmWork.zeroOffs, 1)}
	t.zeroOffs[0] = 0
	items := t.rowTiles * t.colBlocks
	if k >= 4*stridedKBlock && m*n <= 1<<16 {
		// Fixed ranges of k, added in order: the result does not depend
		// on the number of workers or on which took which range.
		groups := min(splitKGroups, k/(2*stridedKBlock))
		t.splitK = true
		t.partialSize = m * n
		t.kPerGroup = (k + groups - 1) / groups
		t.c = grown(&c.gemmWork.partialC, groups*m*n)
		for len(c.gemmWork.packedA) < c.pool.size {
			c.gemmWork.packedA = append(c.gemmWork.packedA, nil)
		}
		for w := range c.pool.size {
			grown(&c.gemmWork.packedA[w], t.rowTiles*stridedKBlock*maxMR)
		}
		t.packed = c.gemmWork.packedA
		c.pool.dynamic(groups, 1, t)
		part := t.c
		for i := range cm {
			sum := part[i]
			for g := 1; g < groups; g++ {
				sum += part[g*m*n+i]
			}
			if beta != 0 {
				sum += beta * cm[i]
			}
			cm[i] = sum
		}
		return
	}
	switch beta {
	case 0:
	case 1:
		t.accumulate = true
	default:
		for i := range cm {
			cm[i] *= beta
		}
		t.accumulate = true
	}
	c.pool.dynamic(items, 2, t)
}

// transposedGemm computes c = a·bᵀ + beta·c (b stored n×k) as cᵀ = b·aᵀ on
// the strided kernel, for few rows m (a multiple of 32) and many columns n:
// a dense layer's input gradient, where transposing b would cost more
// than transposing a and the result.
func (c *Backend) transposedGemm(transA bool, m, n, k int, a, b []float32, beta float32, cm []float32) {
	at := a // aᵀ, k×m
	if !transA {
		at = grown(&c.gemmWork.transA, k*m)
		for i := range m {
			for p, v := range a[i*k : (i+1)*k] {
				at[p*m+i] = v
			}
		}
	}
	ct := grown(&c.gemmWork.transC, n*m)
	c.stridedGemm(false, false, n, m, k, b, at, 0, ct)
	c.gemmWork.transpose = transposeTask{cm, ct, m, n, beta}
	c.pool.dynamic((n+transposeBlock-1)/transposeBlock, 4, &c.gemmWork.transpose)
}

// transposeTask writes c (m×n) = tᵀ + beta·c for t (n×m); items are
// blocks of transposeBlock columns of c, whose rows of t are one
// contiguous run that stays in L1.
type transposeTask struct {
	c, t []float32
	m, n int
	beta float32
}

const transposeBlock = 64

func (t *transposeTask) run(_, lo, hi int) {
	for jb := lo * transposeBlock; jb < min(hi*transposeBlock, t.n); jb += transposeBlock {
		je := min(jb+transposeBlock, t.n)
		for i := range t.m {
			row := t.c[i*t.n+jb : i*t.n+je]
			for j := range row {
				v := t.t[(jb+j)*t.m+i]
				if t.beta != 0 {
					v += t.beta * row[j]
				}
				row[j] = v
			}
		}
	}
}

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

type stridedGemmTask struct {
	a, b        []float32
	c           []float32 // c itself (split by rows) or the partials (split by k)
	transA      bool
	m, n, k     int
	rowTiles    int
	splitK      bool
	kPerWorker  int
	calls       []stridedCall
	zeroOffs    []int
	accumulate  bool
	colBlocks   int
	partialSize int
}

func (t *stridedGemmTask) tile(s *stridedCall, c []float32, tile, cb, p0, kb int, accumulate bool) {
	i0 := tile * maxMR
	s.mr = min(maxMR, t.m-i0)
	s.kPerTap = kb
	if t.transA {
		s.a, s.ar, s.ap = t.a[p0*t.m+i0:], 1, t.m
	} else {
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
			t.tile(s, t.c, item/t.colBlocks, item%t.colBlocks, 0, t.k, t.accumulate)
		}
		return
	}
	// Items are workers; each sums k range [p0, p1) into its partial.
	for w := lo; w < hi; w++ {
		part := t.c[w*t.partialSize : (w+1)*t.partialSize]
		p0, p1 := w*t.kPerWorker, min((w+1)*t.kPerWorker, t.k)
		first := true
		for pb := p0; pb < p1; pb += stridedKBlock {
			kb := min(stridedKBlock, p1-pb)
			for tile := range t.rowTiles {
				for cb := range t.colBlocks {
					t.tile(s, part, tile, cb, pb, kb, !first)
				}
			}
			first = false
		}
		if first {
			clear(part)
		}
	}
}

// stridedGemm computes c = a·b + beta·c like gemm; the caller checks
// canDirect(n).
func (c *Backend) stridedGemm(transA, transB bool, m, n, k int, a, b []float32, beta float32, cm []float32) {
	cm = cm[:m*n]
	if transB {
		bt := grown(&c.transB, k*n)
		for j := range n {
			for p, v := range b[j*k : (j+1)*k] {
				bt[p*n+j] = v
			}
		}
		b = bt
	}
	t := &c.tasks.stridedGemm
	*t = stridedGemmTask{a: a, b: b, c: cm, transA: transA, m: m, n: n, k: k,
		rowTiles: (m + maxMR - 1) / maxMR, colBlocks: n / stridedCols,
		calls: c.stridedCalls(), zeroOffs: grown(&c.zeroOffs, 1)}
	t.zeroOffs[0] = 0
	items := t.rowTiles * t.colBlocks
	workers := c.pool.size
	if k >= 4*stridedKBlock && m*n <= 1<<16 && workers > 1 {
		t.splitK = true
		t.partialSize = m * n
		t.kPerWorker = (k + workers - 1) / workers
		t.c = grown(&c.partialC, workers*m*n)
		c.pool.parallel(workers, 1, t)
		part := t.c
		for i := range cm {
			sum := part[i]
			for w := 1; w < workers; w++ {
				sum += part[w*m*n+i]
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
	c.pool.parallel(items, 2, t)
}

package cpu

// The CPU backend's matrix product, GotoBLAS-style: B is packed into panels
// of nr columns, A into panels of mr rows, and a register-blocked mr×nr
// micro-kernel (AVX2/FMA assembly where the CPU has it, portable Go
// elsewhere) accumulates one tile of C at a time. Work is split across the
// worker pool by row panels, so no two workers write the same tile.
//
// Operands pack themselves: a plain matrix copies its elements, while an
// image operand (imagecols.go) packs the columns of im2col straight from
// the image, so a convolution never materializes them.
//
// Where the AVX-512 strided kernel runs (strided.go), products whose width
// is a multiple of 32 go to stridedGemm instead (stridedgemm.go), and
// convolutions to the direct convolution (direct.go); this packed path
// remains for other widths, for CPUs without AVX-512 and for -tags purego.

const (
	mr = 6  // rows of a micro-tile: 6 broadcasts of A per k step
	nr = 16 // columns of a micro-tile: two 8-wide vectors of B per k step
	// kcMax bounds the depth of one packed block, so a B micro-panel
	// (nr×kc floats) stays in L1 and an A block in L2.
	kcMax = 384
	// panelsPerBlock row panels of A are packed at once (96 rows).
	panelsPerBlock = 16
)

// operand is a GEMM input that can pack any block of itself.
type operand interface {
	// packRows writes rows [i0, i0+rows) × columns [pc, pc+kb) as row
	// panels: panel ip holds, for each p, the mr values (i0+ip*mr+r, pc+p),
	// zero past the last row.
	packRows(dst []float32, i0, rows, pc, kb int)
	// packCols writes rows [pc, pc+kb) × columns [j0, j0+nr) as one column
	// panel: for each p, the nr values (pc+p, j0+j), zero past the last column.
	packCols(dst []float32, pc, kb, j0 int)
}

// matrix is a row-major operand of rows×cols elements; with trans its
// storage holds the transpose (cols×rows).
type matrix struct {
	data       []float32
	rows, cols int
	trans      bool
}

func (a *matrix) packRows(dst []float32, i0, rows, pc, kb int) {
	m, k := a.rows, a.cols
	for ip := 0; ip*mr < rows; ip++ {
		panel := dst[ip*mr*kb : (ip+1)*mr*kb]
		first := i0 + ip*mr
		valid := min(mr, m-first)
		if valid < mr {
			clear(panel)
		}
		switch {
		case a.trans && valid == mr:
			// Storage row pc+p holds this panel's mr values side by side.
			for p := 0; p < kb; p++ {
				src := a.data[(pc+p)*m+first : (pc+p)*m+first+mr]
				out := panel[p*mr : p*mr+mr]
				out[0], out[1], out[2], out[3], out[4], out[5] = src[0], src[1], src[2], src[3], src[4], src[5]
			}
		case a.trans:
			for p := 0; p < kb; p++ {
				for r := 0; r < valid; r++ {
					panel[p*mr+r] = a.data[(pc+p)*m+first+r]
				}
			}
		case valid == mr:
			r0 := a.data[first*k+pc : first*k+pc+kb]
			r1 := a.data[(first+1)*k+pc : (first+1)*k+pc+kb]
			r2 := a.data[(first+2)*k+pc : (first+2)*k+pc+kb]
			r3 := a.data[(first+3)*k+pc : (first+3)*k+pc+kb]
			r4 := a.data[(first+4)*k+pc : (first+4)*k+pc+kb]
			r5 := a.data[(first+5)*k+pc : (first+5)*k+pc+kb]
			for p := 0; p < kb; p++ {
				out := panel[p*mr : p*mr+mr]
				out[0], out[1], out[2], out[3], out[4], out[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
			}
		default:
			for r := 0; r < valid; r++ {
				row := a.data[(first+r)*k+pc : (first+r)*k+pc+kb]
				for p, v := range row {
					panel[p*mr+r] = v
				}
			}
		}
	}
}

func (b *matrix) packCols(dst []float32, pc, kb, j0 int) {
	n, k := b.cols, b.rows
	cols := min(nr, n-j0)
	for p := 0; p < kb; p++ {
		out := dst[p*nr : p*nr+nr]
		if b.trans {
			for j := 0; j < cols; j++ {
				out[j] = b.data[(j0+j)*k+pc+p]
			}
		} else {
			row := (pc + p) * n
			copy(out, b.data[row+j0:row+j0+cols])
		}
		clear(out[cols:])
	}
}

// gemmWork is the matrix products' scratch: the packed path's packing
// buffers; stridedGemm's transposed operands, per-worker partial C, packed
// A panels and zero tap offset; and the operands and loops of both.
type gemmWork struct {
	bufs                             gemmBuffers
	transA, transB, transC, partialC []float32
	packedA                          [][]float32
	zeroOffs                         []int

	matA, matB     matrix
	imageA, imageB imageCols
	gemm           gemmTask
	packB          packBTask
	strided        stridedGemmTask
	transpose      transposeTask
}

// gemmBuffers are the packing buffers, grown once and reused.
type gemmBuffers struct {
	b []float32   // packed B block: ceil(n/nr) panels of kc×nr
	a [][]float32 // per worker: packed A block, panelsPerBlock panels of kc×mr
}

// gemm computes c = a·b + beta·c for row-major matrices: a is m×k (stored
// k×m when transA), b is k×n (stored n×k when transB), c is m×n.
func (c *Backend) gemm(transA, transB bool, m, n, k int, a, b []float32, beta float32, cm []float32) {
	// A transposed B is copied once per call, which pays off only when many
	// rows of A share it (the conv shapes); a dense layer's input gradient,
	// with few rows, is computed transposed instead.
	if m > 0 && k > 0 && n > 0 {
		switch {
		case canDirect(n) && (!transB || m >= stridedTransBRows):
			c.stridedGemm(transA, transB, m, n, k, a, b, beta, cm)
			return
		case transB && canDirect(m):
			c.transposedGemm(transA, m, n, k, a, b, beta, cm)
			return
		}
	}
	c.gemmWork.matA = matrix{a, m, k, transA}
	c.gemmWork.matB = matrix{b, k, n, transB}
	c.multiply(m, n, k, &c.gemmWork.matA, &c.gemmWork.matB, beta, cm)
}

// multiply computes c = a·b + beta·c for packable operands, c row-major m×n.
// It is the one place the backend multiplies matrices.
func (c *Backend) multiply(m, n, k int, a, b operand, beta float32, cm []float32) {
	cm = cm[:m*n]
	switch beta {
	case 0:
		clear(cm)
	case 1:
	default:
		for i := range cm {
			cm[i] *= beta
		}
	}
	if m == 0 || n == 0 || k == 0 {
		return
	}
	kc := k
	if kc > kcMax {
		// Equal blocks, so the last is not a thin remainder.
		blocks := (k + kcMax - 1) / kcMax
		kc = (k + blocks - 1) / blocks
	}
	colPanels := (n + nr - 1) / nr
	rowPanels := (m + mr - 1) / mr
	buf := &c.gemmWork.bufs
	grown(&buf.b, colPanels*nr*kc)
	// Sized before the workers start: they must not grow shared slices.
	for len(buf.a) < c.pool.size {
		buf.a = append(buf.a, nil)
	}
	for w := range buf.a {
		grown(&buf.a[w], panelsPerBlock*mr*kc)
	}
	t := &c.gemmWork.gemm
	*t = gemmTask{a: a, m: m, n: n, c: cm, bPacked: buf.b, aPacked: buf.a, colPanels: colPanels}
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		c.gemmWork.packB = packBTask{dst: buf.b, b: b, pc: pc, kb: kb}
		c.pool.parallel(colPanels, 4, &c.gemmWork.packB)
		t.pc, t.kb = pc, kb
		c.pool.parallel(rowPanels, 2, t)
	}
}

// packBTask packs one kb-deep block of B; items are column panels.
type packBTask struct {
	dst    []float32
	b      operand
	pc, kb int
}

func (t *packBTask) run(_, lo, hi int) {
	for jp := lo; jp < hi; jp++ {
		t.b.packCols(t.dst[jp*nr*t.kb:(jp+1)*nr*t.kb], t.pc, t.kb, jp*nr)
	}
}

// gemmTask multiplies one kb-deep block: items are row panels of A; each
// worker packs its panels into its own buffer and updates their rows of C.
type gemmTask struct {
	a          operand
	c, bPacked []float32
	aPacked    [][]float32
	m, n       int
	colPanels  int
	pc, kb     int
}

func (t *gemmTask) run(worker, lo, hi int) {
	ap := t.aPacked[worker]
	kb, n, cm := t.kb, t.n, t.c
	var edge [mr * nr]float32
	for first := lo; first < hi; first += panelsPerBlock {
		last := min(first+panelsPerBlock, hi)
		t.a.packRows(ap, first*mr, (last-first)*mr, t.pc, kb)
		for jp := 0; jp < t.colPanels; jp++ {
			j0 := jp * nr
			cols := min(nr, n-j0)
			bPanel := t.bPacked[jp*nr*kb : (jp+1)*nr*kb]
			for ip := first; ip < last; ip++ {
				i0 := ip * mr
				rows := min(mr, t.m-i0)
				aPanel := ap[(ip-first)*mr*kb : (ip-first+1)*mr*kb]
				if rows == mr && cols == nr {
					microKernel(kb, aPanel, bPanel, cm[i0*n+j0:], n)
					continue
				}
				clear(edge[:])
				microKernel(kb, aPanel, bPanel, edge[:], nr)
				for r := 0; r < rows; r++ {
					dst := cm[(i0+r)*n+j0 : (i0+r)*n+j0+cols]
					for j := range dst {
						dst[j] += edge[r*nr+j]
					}
				}
			}
		}
	}
}

// microKernelGo is the portable micro-kernel: c[r*ldc+j] += Σp a[p*mr+r]·b[p*nr+j]
// for the full mr×nr tile.
func microKernelGo(k int, a, b, c []float32, ldc int) {
	var acc [mr][nr]float32
	for p := 0; p < k; p++ {
		bp := (*[nr]float32)(b[p*nr : p*nr+nr])
		ap := a[p*mr : p*mr+mr]
		for r := 0; r < mr; r++ {
			av := ap[r]
			row := &acc[r]
			for j := 0; j < nr; j++ {
				row[j] += av * bp[j]
			}
		}
	}
	for r := 0; r < mr; r++ {
		dst := c[r*ldc : r*ldc+nr]
		for j := range dst {
			dst[j] += acc[r][j]
		}
	}
}

package cpu

// The strided kernel is the micro-kernel of the direct convolution
// (direct.go): a tile of up to maxMR rows × 32 columns of C, where the rows
// of A are read in place at a fixed stride instead of from a packed panel.
// A convolution's A operand is its image: row r of a tile is an output
// pixel, which reads the input at a fixed offset per kernel tap, so nothing
// is packed or copied per tile.

//go:generate go run gen_strided.go

const (
	maxMR       = 14 // rows of the widest strided kernel: 28 of 32 vector registers accumulate
	stridedCols = 32 // columns of every strided kernel: two 16-wide vectors
)

// stridedCall is one tile's worth of work:
//
//	rows[r][j] (+)= bias[j] + Σ_t Σ_p<kPerTap a[offs[t] + p*ap + r*ar] · b[(t*kPerTap+p)*bp + j]
//
// for r < mr and j < 32 (no bias: 0). Each worker owns one, so filling it allocates nothing.
type stridedCall struct {
	a         []float32
	offs      []int // element offsets of the taps into a
	offsBytes []int // the same in bytes, for the assembly
	kPerTap   int
	ar, ap    int
	b         []float32
	bp        int
	mr        int
	bias      []float32        // nil, or at least 32 long
	rows      [maxMR][]float32 // each at least 32 long
	ptrs      [maxMR]*float32
}

// check panics unless every element the call touches is inside its slices;
// the assembly relies on it.
func (s *stridedCall) check() {
	if s.mr < 1 || s.mr > maxMR || len(s.offs) != len(s.offsBytes) || s.kPerTap < 0 {
		panic("cpu: strided kernel: bad call")
	}
	if s.bias != nil {
		_ = s.bias[stridedCols-1]
	}
	if len(s.offs) == 0 || s.kPerTap == 0 {
		return
	}
	top := 0
	for _, o := range s.offs {
		top = max(top, o)
	}
	_ = s.a[top+(s.kPerTap-1)*s.ap+(s.mr-1)*s.ar]
	_ = s.b[(len(s.offs)*s.kPerTap-1)*s.bp+stridedCols-1]
	for r := range s.mr {
		_ = s.rows[r][stridedCols-1]
	}
}

// stridedGo is the portable strided kernel and the reference the assembly
// is tested against.
func stridedGo(s *stridedCall, accumulate bool) {
	var acc [maxMR][stridedCols]float32
	if s.bias != nil {
		for r := range s.mr {
			acc[r] = [stridedCols]float32(s.bias[:stridedCols])
		}
	}
	bRow := 0
	for _, off := range s.offs {
		for p := range s.kPerTap {
			bp := (*[stridedCols]float32)(s.b[bRow : bRow+stridedCols])
			bRow += s.bp
			for r := range s.mr {
				av := s.a[off+p*s.ap+r*s.ar]
				row := &acc[r]
				for j := range row {
					row[j] += av * bp[j]
				}
			}
		}
	}
	for r := range s.mr {
		dst := (*[stridedCols]float32)(s.rows[r][:stridedCols])
		if accumulate {
			for j := range dst {
				dst[j] += acc[r][j]
			}
		} else {
			*dst = acc[r]
		}
	}
}

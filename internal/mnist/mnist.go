// Package mnist loads, fetches and verifies the real MNIST digits: the four
// standard gzipped IDX files. Loading never trusts the headers: every count
// is checked against the data actually present, so a damaged file gives one
// error that names the file and the problem instead of a panic or a huge
// allocation.
package mnist

// The four standard files, as distributed and as Load expects them in a directory.
const (
	TrainImages = "train-images-idx3-ubyte.gz"
	TrainLabels = "train-labels-idx1-ubyte.gz"
	TestImages  = "t10k-images-idx3-ubyte.gz"
	TestLabels  = "t10k-labels-idx1-ubyte.gz"
)

// fileNames lists the four files in the order they are checked and reported,
// so messages come out the same way every time.
var fileNames = [...]string{TrainImages, TrainLabels, TestImages, TestLabels}

// sha256Sums are the digests of the gzipped files as published by LeCun et
// al. and mirrored everywhere; a download that does not match is rejected.
var sha256Sums = map[string]string{
	TrainImages: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
	TrainLabels: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
	TestImages:  "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
	TestLabels:  "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

// Side is the width and height of an MNIST digit; Load insists on it.
const Side = 28

// Set is one split: N images of Rows x Cols uint8 pixels, row-major, image
// after image, and N labels 0..9.
type Set struct {
	Images []uint8 // (N, Rows, Cols), 0 = background, 255 = ink
	Labels []uint8 // (N), each 0..9
	N      int
	Rows   int
	Cols   int
}

// Limit returns the first n examples. n <= 0 or n >= N returns s itself.
// The result shares memory with s; its slices are capped at their length so
// that an append on the smaller set cannot overwrite the larger one.
func (s *Set) Limit(n int) *Set {
	if n <= 0 || n >= s.N {
		return s
	}
	pixels := n * s.Rows * s.Cols
	return &Set{
		Images: s.Images[:pixels:pixels],
		Labels: s.Labels[:n:n],
		N:      n,
		Rows:   s.Rows,
		Cols:   s.Cols,
	}
}

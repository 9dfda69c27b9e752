package mnist

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
)

// IDX magic numbers: two zero bytes, type 0x08 (unsigned byte), then the
// number of dimensions.
const (
	imagesMagic = 0x00000803
	labelsMagic = 0x00000801
)

// Caps on what a header may claim. They are far above MNIST (and EMNIST) yet
// keep a corrupt or hostile header from asking for more memory than a
// machine has; the data itself is then read without trusting the header.
const (
	maxCount = 1 << 24 // examples per file
	maxSide  = 1 << 12 // pixels per image side
	// Decompressed bytes after the header; on 32-bit builds no slice can
	// be longer than MaxInt.
	maxPayload = min(1<<31, math.MaxInt)
)

// LoadSet reads one split from a gzipped IDX images file and its labels
// file. Any rows and cols > 0 are accepted; Load is the one that insists on
// 28x28.
func LoadSet(ctx context.Context, imagesPath, labelsPath string) (*Set, error) {
	images, n, rows, cols, err := readImages(ctx, imagesPath)
	if err != nil {
		return nil, err
	}
	labels, err := readLabels(ctx, labelsPath)
	if err != nil {
		return nil, err
	}
	if len(labels) != n {
		return nil, &FileError{
			Path:    labelsPath,
			Problem: ErrCountMismatch,
			Detail:  fmt.Sprintf("%d labels, but %s has %d images", len(labels), imagesPath, n),
		}
	}
	return &Set{Images: images, Labels: labels, N: n, Rows: rows, Cols: cols}, nil
}

// Load reads both splits from dir, which must hold the four standard files.
// It does not check checksums (Verify does), so it also loads hand-made
// files of the right shape. Cancelling ctx stops it within a read.
func Load(ctx context.Context, dir string) (train, test *Set, err error) {
	train, err = loadMNISTSet(ctx, dir, TrainImages, TrainLabels)
	if err != nil {
		return nil, nil, err
	}
	test, err = loadMNISTSet(ctx, dir, TestImages, TestLabels)
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

func loadMNISTSet(ctx context.Context, dir, imagesName, labelsName string) (*Set, error) {
	imagesPath := filepath.Join(dir, imagesName)
	s, err := LoadSet(ctx, imagesPath, filepath.Join(dir, labelsName))
	if err != nil {
		return nil, err
	}
	if s.Rows != Side || s.Cols != Side {
		return nil, &FileError{
			Path:    imagesPath,
			Problem: ErrDims,
			Detail:  fmt.Sprintf("images are %dx%d, MNIST needs %dx%d", s.Rows, s.Cols, Side, Side),
		}
	}
	return s, nil
}

// readImages returns the pixels and the header's dimensions of an images file.
func readImages(ctx context.Context, path string) (pixels []uint8, n, rows, cols int, err error) {
	var dims [3]uint32
	pixels, err = readIDX(ctx, path, imagesMagic, "images", dims[:], func() (int64, error) {
		// Checked as int64 before they become ints: on a 32-bit build
		// int(0xffffffff) is -1, which passed every check and panicked in make.
		n64, rows64, cols64 := int64(dims[0]), int64(dims[1]), int64(dims[2])
		switch {
		case n64 == 0:
			return 0, fmt.Errorf("header says 0 images")
		case n64 > maxCount:
			return 0, fmt.Errorf("header says %d images, more than the limit %d", n64, maxCount)
		case rows64 == 0 || cols64 == 0 || rows64 > maxSide || cols64 > maxSide:
			return 0, fmt.Errorf("header says %dx%d pixels, each side must be 1..%d", rows64, cols64, maxSide)
		}
		size := n64 * rows64 * cols64
		if size > maxPayload {
			return 0, fmt.Errorf("header says %d images of %dx%d, %d bytes, more than the limit %d", n64, rows64, cols64, size, int64(maxPayload))
		}
		n, rows, cols = int(n64), int(rows64), int(cols64)
		return size, nil
	})
	if err != nil {
		return nil, 0, 0, 0, err
	}
	return pixels, n, rows, cols, nil
}

// readLabels returns the labels of a labels file, each checked to be a digit.
func readLabels(ctx context.Context, path string) ([]uint8, error) {
	var dims [1]uint32
	labels, err := readIDX(ctx, path, labelsMagic, "labels", dims[:], func() (int64, error) {
		n := int64(dims[0])
		switch {
		case n == 0:
			return 0, fmt.Errorf("header says 0 labels")
		case n > maxCount:
			return 0, fmt.Errorf("header says %d labels, more than the limit %d", n, maxCount)
		}
		return n, nil
	})
	if err != nil {
		return nil, err
	}
	for i, l := range labels {
		if l > 9 {
			return nil, &FileError{Path: path, Problem: ErrBadLabel, Detail: fmt.Sprintf("label %d at index %d", l, i)}
		}
	}
	return labels, nil
}

// readIDX reads a gzipped IDX file: the magic, len(dims) big-endian sizes,
// then exactly payloadSize() bytes. payloadSize sees dims filled in and
// rejects headers it does not like with an error that becomes ErrDims.
func readIDX(ctx context.Context, path string, magic uint32, kind string, dims []uint32, payloadSize func() (int64, error)) ([]uint8, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	// gzip reads through a bufio.Reader we own, so that after the stream
	// ends we can see whether the file goes on; every read under it checks
	// ctx, so a Ctrl-C stops decompression within one buffer.
	br := bufio.NewReader(ctxReader{ctx, f})
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, readError(path, "gzip header", err)
	}
	defer zr.Close()
	// The files are one gzip member; anything after it is damage, not a
	// second member to decompress.
	zr.Multistream(false)

	// The magic comes first and alone, so that a swapped images and labels
	// file is reported as such even when it is shorter than the header.
	var header [4]byte
	if _, err := io.ReadFull(zr, header[:]); err != nil {
		return nil, readError(path, "IDX header", err)
	}
	if got := binary.BigEndian.Uint32(header[:]); got != magic {
		return nil, &FileError{
			Path:    path,
			Problem: ErrBadMagic,
			Detail:  fmt.Sprintf("0x%08x, want 0x%08x (%s)%s", got, magic, kind, magicHint(got)),
		}
	}
	for i := range dims {
		if _, err := io.ReadFull(zr, header[:]); err != nil {
			return nil, readError(path, "IDX header", err)
		}
		dims[i] = binary.BigEndian.Uint32(header[:])
	}
	size, err := payloadSize()
	if err != nil {
		return nil, &FileError{Path: path, Problem: ErrDims, Detail: err.Error()}
	}

	// Asking for one byte more than declared is how trailing data is
	// noticed; reading to the end is also what makes gzip check its CRC.
	data, err := readUpTo(zr, size)
	trailing := false
	if err == nil && int64(len(data)) == size {
		var more [1]byte
		var n int
		if n, err = io.ReadFull(zr, more[:]); n > 0 {
			trailing = true
		} else if err == io.EOF {
			err = nil
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("mnist: reading %s: %w", path, context.Cause(ctx))
		}
		return nil, readError(path, kind, err)
	}
	switch {
	case int64(len(data)) < size:
		return nil, &FileError{
			Path:    path,
			Problem: ErrTruncated,
			Detail:  fmt.Sprintf("header declares %d bytes of %s, file holds %d", size, kind, len(data)),
		}
	case trailing:
		return nil, &FileError{
			Path:    path,
			Problem: ErrTrailingData,
			Detail:  fmt.Sprintf("more than the %d bytes of %s the header declares", size, kind),
		}
	}
	switch _, err := br.ReadByte(); {
	case err == nil:
		return nil, &FileError{Path: path, Problem: ErrTrailingData, Detail: "bytes after the end of the gzip stream"}
	case err != io.EOF:
		return nil, readError(path, "end of the file", err)
	}
	return data, nil
}

// readUpTo reads r to its end or to limit bytes. Its buffer grows with the
// data actually decompressed, by doubling but never past limit, so a header
// that lies about its size cannot make us allocate it up front, the peak is
// at most 1.5 times the data, and a file of the declared size ends in a
// buffer of that size (a training run keeps it for its whole life).
func readUpTo(r io.Reader, limit int64) ([]byte, error) {
	buf := make([]byte, 0, min(limit, 1<<20))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) == limit {
				return buf, nil
			}
			grown := make([]byte, len(buf), min(limit, 2*int64(cap(buf))))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// openRegular opens a data file that must be a regular file: a named pipe
// or a device would block the open or never end, out of reach of Ctrl-C.
func openRegular(path string) (*os.File, error) {
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &FileError{Path: path, Problem: ErrMissing}
		}
		return nil, fmt.Errorf("mnist: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, &FileError{Path: path, Problem: ErrNotRegular, Detail: fileKind(info.Mode())}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mnist: %w", err)
	}
	return f, nil
}

// fileKind names what a non-regular file is, for the error message.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}

// magicHint catches the most likely mix-up: the images and labels files swapped.
func magicHint(got uint32) string {
	switch got {
	case imagesMagic:
		return "; this looks like an images file"
	case labelsMagic:
		return "; this looks like a labels file"
	}
	return ""
}

// readError turns a read failure into the one problem the user can act on:
// data that stops early, or data that is not valid gzip.
func readError(path, what string, err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &FileError{Path: path, Problem: ErrTruncated, Detail: "file ends inside the " + what}
	case errors.Is(err, gzip.ErrHeader):
		return &FileError{Path: path, Problem: ErrCorrupt, Detail: "not gzip data (the files must stay gzipped, as distributed)"}
	case errors.Is(err, gzip.ErrChecksum), errors.As(err, &corrupt):
		return &FileError{Path: path, Problem: ErrCorrupt, Detail: "while reading the " + what, Err: err}
	default:
		return fmt.Errorf("mnist: reading %s: %w", path, err)
	}
}

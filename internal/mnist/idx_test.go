package mnist

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestLoadSetRoundTrip(t *testing.T) {
	dir := t.TempDir()
	const n, rows, cols = 7, 3, 5
	imgPath, lblPath := filepath.Join(dir, "img.gz"), filepath.Join(dir, "lbl.gz")
	writeFile(t, imgPath, imagesGz(t, n, rows, cols))
	writeFile(t, lblPath, gz(t, idx(labelsMagic, []uint32{n}, digits(n, 4))))

	s, err := LoadSet(context.Background(), imgPath, lblPath)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != n || s.Rows != rows || s.Cols != cols {
		t.Fatalf("got N=%d %dx%d, want N=%d %dx%d", s.N, s.Rows, s.Cols, n, rows, cols)
	}
	if !bytes.Equal(s.Images, pixels(n*rows*cols)) {
		t.Errorf("images differ from what was written")
	}
	if !bytes.Equal(s.Labels, digits(n, 4)) {
		t.Errorf("labels = %v, want %v", s.Labels, digits(n, 4))
	}
	if len(s.Images) != cap(s.Images) {
		t.Errorf("images slice has spare capacity %d", cap(s.Images)-len(s.Images))
	}
}

func TestLoadSetBadInput(t *testing.T) {
	const n, rows, cols = 3, 4, 5
	goodImages := imagesGz(t, n, rows, cols)
	goodLabels := labelsGz(t, n)
	imgHeader := func(n, rows, cols uint32, payload []byte) []byte {
		return gz(t, idx(imagesMagic, []uint32{n, rows, cols}, payload))
	}
	lblFile := func(labels []byte) []byte {
		return gz(t, idx(labelsMagic, []uint32{uint32(len(labels))}, labels))
	}
	// badDeflate keeps a valid gzip header but replaces the compressed data
	// with 0xff: a final block of the reserved type 3.
	badDeflate := append([]byte{}, goodImages...)
	for i := 10; i < len(badDeflate); i++ {
		badDeflate[i] = 0xff
	}
	badCRC := append([]byte{}, goodImages...)
	badCRC[len(badCRC)-8] ^= 0xff

	const imagesFile, labelsFile = "images", "labels"
	tests := []struct {
		name     string
		images   []byte // nil: file not created
		labels   []byte
		want     error
		blame    string // which file the error must name
		contains string // a detail the message must carry
	}{
		{"missing images", nil, goodLabels, ErrMissing, imagesFile, ""},
		{"missing labels", goodImages, nil, ErrMissing, labelsFile, ""},
		{"empty file", []byte{}, goodLabels, ErrTruncated, imagesFile, ""},
		{"not gzip", idx(imagesMagic, []uint32{n, rows, cols}, pixels(n*rows*cols)), goodLabels, ErrCorrupt, imagesFile, "not gzip"},
		{"gzip cut short", goodImages[:len(goodImages)/2], goodLabels, ErrTruncated, imagesFile, ""},
		{"gzip bad crc", badCRC, goodLabels, ErrCorrupt, imagesFile, "checksum"},
		{"corrupt deflate", badDeflate, goodLabels, ErrCorrupt, imagesFile, ""},
		{"junk after gzip", append(append([]byte{}, goodImages...), "junk"...), goodLabels, ErrTrailingData, imagesFile, "after the end of the gzip stream"},
		{"labels as images", goodLabels, goodLabels, ErrBadMagic, imagesFile, "looks like a labels file"},
		{"images as labels", goodImages, goodImages, ErrBadMagic, labelsFile, "looks like an images file"},
		{"bad magic", gz(t, idx(0x1f8b0808, []uint32{n, rows, cols}, pixels(n*rows*cols))), goodLabels, ErrBadMagic, imagesFile, "0x1f8b0808"},
		{"header cut short", gz(t, idx(imagesMagic, []uint32{n, rows}, nil)), goodLabels, ErrTruncated, imagesFile, "IDX header"},
		{"zero images", imgHeader(0, rows, cols, nil), goodLabels, ErrDims, imagesFile, "0 images"},
		{"zero rows", imgHeader(n, 0, cols, nil), goodLabels, ErrDims, imagesFile, "0x5"},
		{"huge side", imgHeader(n, 1<<20, cols, nil), goodLabels, ErrDims, imagesFile, ""},
		{"huge count", imgHeader(0xffffffff, rows, cols, nil), goodLabels, ErrDims, imagesFile, "4294967295 images"},
		{"huge payload", imgHeader(maxCount, maxSide, maxSide, nil), goodLabels, ErrDims, imagesFile, "limit"},
		{"payload short", imgHeader(n, rows, cols, pixels(n*rows*cols-1)), goodLabels, ErrTruncated, imagesFile, "59"},
		{"payload long", imgHeader(n, rows, cols, pixels(n*rows*cols+1)), goodLabels, ErrTrailingData, imagesFile, ""},
		{"zero labels", goodImages, lblFile(nil), ErrDims, labelsFile, "0 labels"},
		{"labels short", goodImages, gz(t, idx(labelsMagic, []uint32{n}, digits(n-1, 0))), ErrTruncated, labelsFile, ""},
		{"labels long", goodImages, gz(t, idx(labelsMagic, []uint32{n}, digits(n+1, 0))), ErrTrailingData, labelsFile, ""},
		{"huge label count", goodImages, gz(t, idx(labelsMagic, []uint32{0xffffffff}, nil)), ErrDims, labelsFile, ""},
		{"count mismatch", goodImages, lblFile(digits(n-1, 0)), ErrCountMismatch, labelsFile, "2 labels"},
		{"label 10", goodImages, lblFile([]byte{1, 10, 2}), ErrBadLabel, labelsFile, "label 10 at index 1"},
		{"label 255", goodImages, lblFile([]byte{1, 2, 255}), ErrBadLabel, labelsFile, "label 255 at index 2"},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			paths := map[string]string{
				imagesFile: filepath.Join(dir, "my-images.gz"),
				labelsFile: filepath.Join(dir, "my-labels.gz"),
			}
			if tc.images != nil {
				writeFile(t, paths[imagesFile], tc.images)
			}
			if tc.labels != nil {
				writeFile(t, paths[labelsFile], tc.labels)
			}

			s, err := LoadSet(context.Background(), paths[imagesFile], paths[labelsFile])
			if err == nil {
				t.Fatalf("LoadSet succeeded with N=%d, want %v", s.N, tc.want)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %q is not %v", err, tc.want)
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q is not a *FileError", err)
			}
			if fe.Path != paths[tc.blame] {
				t.Errorf("error names %s, want %s", fe.Path, paths[tc.blame])
			}
			if !strings.Contains(err.Error(), paths[tc.blame]) {
				t.Errorf("message %q does not name %s", err, paths[tc.blame])
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("message %q does not mention %q", err, tc.contains)
			}
		})
	}
}

// A header may claim far more data than the file holds; the loader must not
// allocate what it claims before seeing the data.
func TestLoadSetLyingHeaderDoesNotAllocate(t *testing.T) {
	dir := t.TempDir()
	imgPath, lblPath := filepath.Join(dir, "img.gz"), filepath.Join(dir, "lbl.gz")
	// 1,000,000 28x28 images is 784 MB, within the caps; the file holds 10 bytes.
	writeFile(t, imgPath, gz(t, idx(imagesMagic, []uint32{1_000_000, Side, Side}, pixels(10))))
	writeFile(t, lblPath, labelsGz(t, 1))

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := LoadSet(context.Background(), imgPath, lblPath)
	runtime.ReadMemStats(&after)

	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("error %v, want ErrTruncated", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Errorf("allocated %d bytes for a 10-byte payload", got)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	files, _ := fakeFiles(t)
	writeFakeDir(t, dir, files)

	train, test, err := Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != fakeTrainN || test.N != fakeTestN {
		t.Errorf("got %d train and %d test, want %d and %d", train.N, test.N, fakeTrainN, fakeTestN)
	}
	if train.Rows != Side || train.Cols != Side || len(train.Images) != fakeTrainN*Side*Side {
		t.Errorf("train is %dx%d with %d pixels", train.Rows, train.Cols, len(train.Images))
	}
}

func TestLoadErrors(t *testing.T) {
	files, _ := fakeFiles(t)
	tests := []struct {
		name    string
		replace map[string][]byte // files to overwrite; a nil value deletes
		want    error
		blame   string
	}{
		{"train images not 28x28", map[string][]byte{TrainImages: imagesGz(t, fakeTrainN, 28, 27)}, ErrDims, TrainImages},
		{"test images not 28x28", map[string][]byte{TestImages: imagesGz(t, fakeTestN, 14, 14)}, ErrDims, TestImages},
		{"test labels missing", map[string][]byte{TestLabels: nil}, ErrMissing, TestLabels},
		{"train labels count", map[string][]byte{TrainLabels: labelsGz(t, fakeTrainN+1)}, ErrCountMismatch, TrainLabels},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFakeDir(t, dir, files)
			for name, data := range tc.replace {
				if data == nil {
					removeFile(t, filepath.Join(dir, name))
					continue
				}
				writeFile(t, filepath.Join(dir, name), data)
			}
			_, _, err := Load(context.Background(), dir)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, tc.blame)) {
				t.Errorf("message %q does not name %s", err, tc.blame)
			}
		})
	}
}

func TestLimit(t *testing.T) {
	const n, rows, cols = 6, 2, 3
	s := &Set{Images: pixels(n * rows * cols), Labels: digits(n, 0), N: n, Rows: rows, Cols: cols}
	tests := []struct {
		limit, wantN int
		same         bool // Limit must return s itself
	}{
		{-1, n, true},
		{0, n, true},
		{1, 1, false},
		{4, 4, false},
		{n, n, true},
		{n + 10, n, true},
	}
	for _, tc := range tests {
		got := s.Limit(tc.limit)
		if (got == s) != tc.same {
			t.Errorf("Limit(%d) returned s itself = %v, want %v", tc.limit, got == s, tc.same)
		}
		if got.N != tc.wantN || len(got.Labels) != tc.wantN || len(got.Images) != tc.wantN*rows*cols {
			t.Errorf("Limit(%d): N=%d, %d labels, %d pixels; want N=%d", tc.limit, got.N, len(got.Labels), len(got.Images), tc.wantN)
		}
		if got.Rows != rows || got.Cols != cols {
			t.Errorf("Limit(%d): %dx%d, want %dx%d", tc.limit, got.Rows, got.Cols, rows, cols)
		}
		if !bytes.Equal(got.Images, s.Images[:len(got.Images)]) || !bytes.Equal(got.Labels, s.Labels[:got.N]) {
			t.Errorf("Limit(%d) is not a prefix of s", tc.limit)
		}
	}

	small := s.Limit(2)
	small.Labels[0] = 9
	if s.Labels[0] != 9 {
		t.Errorf("Limit does not share memory with s")
	}
	_ = append(small.Labels, 7)
	if s.Labels[2] == 7 {
		t.Errorf("append on a limited set overwrote the full set")
	}
}

// FuzzLoadSet feeds arbitrary decompressed bytes as the images file: the
// only acceptable outcomes are a set or a *FileError, never a panic.
func FuzzLoadSet(f *testing.F) {
	f.Add(idx(imagesMagic, []uint32{1, 2, 2}, []byte{1, 2, 3, 4}))
	f.Add(idx(imagesMagic, []uint32{1, 2, 2}, []byte{1, 2, 3}))
	f.Add(idx(imagesMagic, []uint32{0xffffffff, 0xffffffff, 0xffffffff}, nil))
	f.Add(idx(labelsMagic, []uint32{1}, []byte{3}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		dir := t.TempDir()
		imgPath, lblPath := filepath.Join(dir, "img.gz"), filepath.Join(dir, "lbl.gz")
		writeFile(t, imgPath, gz(t, raw))
		writeFile(t, lblPath, labelsGz(t, 1))
		s, err := LoadSet(context.Background(), imgPath, lblPath)
		if err == nil {
			if s.N != 1 || len(s.Images) != s.Rows*s.Cols {
				t.Fatalf("inconsistent set: N=%d %dx%d with %d pixels", s.N, s.Rows, s.Cols, len(s.Images))
			}
			return
		}
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Fatalf("error %q is not a *FileError", err)
		}
	})
}

// An images file costs a small multiple of what its validated header
// requires: the buffer grows by doubling up to the declared size and is
// never copied again. All allocations together come to about 2x the data
// (io.ReadAll with a final tight copy came to 2.2x, its peak higher).
func TestLoadSetMemory(t *testing.T) {
	const n = 20000
	dir := t.TempDir()
	imgPath, lblPath := filepath.Join(dir, "img.gz"), filepath.Join(dir, "lbl.gz")
	writeFile(t, imgPath, imagesGz(t, n, Side, Side))
	writeFile(t, lblPath, labelsGz(t, n))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := LoadSet(context.Background(), imgPath, lblPath)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	payload := uint64(len(s.Images) + len(s.Labels))
	if got := after.TotalAlloc - before.TotalAlloc; got > payload*5/2 {
		t.Errorf("loading %d bytes of pixels and labels allocated %d bytes (%.1fx), want at most 2.5x", payload, got, float64(got)/float64(payload))
	}
}

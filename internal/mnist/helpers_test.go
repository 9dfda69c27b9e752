package mnist

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// idx returns an uncompressed IDX file: magic, big-endian dims, payload.
func idx(magic uint32, dims []uint32, payload []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		_ = binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(payload)
	return b.Bytes()
}

func gz(t testing.TB, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pixels is a deterministic, recognisable pattern: byte i is i mod 251.
func pixels(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i % 251)
	}
	return p
}

// digits returns n labels cycling 0..9, starting at start.
func digits(n, start int) []byte {
	l := make([]byte, n)
	for i := range l {
		l[i] = byte((start + i) % 10)
	}
	return l
}

func imagesGz(t testing.TB, n, rows, cols int) []byte {
	return gz(t, idx(imagesMagic, []uint32{uint32(n), uint32(rows), uint32(cols)}, pixels(n*rows*cols)))
}

func labelsGz(t testing.TB, n int) []byte {
	return gz(t, idx(labelsMagic, []uint32{uint32(n)}, digits(n, 0)))
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// Sizes of the tiny 28x28 stand-ins for the real splits.
const (
	fakeTrainN = 5
	fakeTestN  = 3
)

// fakeFiles are tiny 28x28 stand-ins for the four real files, with their
// sha256s, so that fetch, Verify and Load run end to end without the network.
func fakeFiles(t testing.TB) (files map[string][]byte, sums map[string]string) {
	files = map[string][]byte{
		TrainImages: imagesGz(t, fakeTrainN, Side, Side),
		TrainLabels: labelsGz(t, fakeTrainN),
		TestImages:  imagesGz(t, fakeTestN, Side, Side),
		TestLabels:  labelsGz(t, fakeTestN),
	}
	sums = make(map[string]string, len(files))
	for name, data := range files {
		sums[name] = sha(data)
	}
	return files, sums
}

func writeFakeDir(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), data)
	}
}

func removeFile(t testing.TB, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

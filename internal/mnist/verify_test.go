package mnist

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestVerifyReportsEveryMissingFile(t *testing.T) {
	dir := t.TempDir()
	_, _, err := Verify(context.Background(), dir)
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("error %v, want ErrMissing", err)
	}
	for _, name := range fileNames {
		if !strings.Contains(err.Error(), filepath.Join(dir, name)) {
			t.Errorf("message does not name %s:\n%v", name, err)
		}
	}
}

func TestVerify(t *testing.T) {
	files, sums := fakeFiles(t)
	tests := []struct {
		name    string
		files   map[string][]byte
		sums    map[string]string
		want    error // nil: Verify passes
		blame   string
		message string
	}{
		{"good", files, sums, nil, "", ""},
		{"missing", without(files, TrainLabels), sums, ErrMissing, TrainLabels, "file missing"},
		{"checksum", with(files, TestLabels, labelsGz(t, fakeTestN+1)), sums, ErrChecksum, TestLabels, "want " + sums[TestLabels]},
		{"real sums", files, sha256Sums, ErrChecksum, TrainImages, sha256Sums[TrainImages]},
		{"digest matches but not 28x28",
			with(files, TrainImages, imagesGz(t, fakeTrainN, 7, 7)),
			withSum(sums, TrainImages, sha(imagesGz(t, fakeTrainN, 7, 7))),
			ErrDims, TrainImages, "7x7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFakeDir(t, dir, tc.files)
			train, _, err := verify(context.Background(), dir, tc.sums)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if train == nil || train.N != fakeTrainN {
					t.Fatalf("verify returned %v, want the %d training examples it loaded", train, fakeTrainN)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			for _, want := range []string{filepath.Join(dir, tc.blame), tc.message} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestDefaultDir(t *testing.T) {
	if runtime.GOOS == "linux" {
		cache := t.TempDir()
		t.Setenv("XDG_CACHE_HOME", cache)
		got, err := DefaultDir()
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(cache, "mnistgpu", "mnist"); got != want {
			t.Errorf("DefaultDir() = %q, want %q", got, want)
		}
		return
	}
	got, err := DefaultDir()
	if err != nil {
		t.Skipf("no cache directory here: %v", err)
	}
	if !strings.HasSuffix(got, filepath.Join("mnistgpu", "mnist")) {
		t.Errorf("DefaultDir() = %q, want it to end in mnistgpu/mnist", got)
	}
}

func withSum(sums map[string]string, name, sum string) map[string]string {
	m := maps.Clone(sums)
	m[name] = sum
	return m
}

package mnist

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultDir is where the files live unless the user says otherwise:
// os.UserCacheDir()/mnistgpu/mnist, since they can always be fetched again.
func DefaultDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("mnist: no default data directory: %w", err)
	}
	return filepath.Join(cache, "mnistgpu", "mnist"), nil
}

// Verify checks that dir holds the four files, that each has its published
// sha256, and that both splits load as 28x28 MNIST, and returns the splits
// it loaded. Every missing or mismatching file is reported (joined), each
// naming the file and problem.
func Verify(dir string) (train, test *Set, err error) {
	return verify(dir, sha256Sums)
}

// verify is Verify with the expected digests as a parameter, so tests can
// run it on small hand-made files.
func verify(dir string, sums map[string]string) (train, test *Set, err error) {
	var errs []error
	for _, name := range fileNames {
		if err := checkSum(filepath.Join(dir, name), sums[name]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return Load(dir)
}

// checkSum reports ErrMissing or ErrChecksum for path, or nil if it matches.
func checkSum(path, want string) error {
	got, err := fileSHA256(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &FileError{Path: path, Problem: ErrMissing}
		}
		return fmt.Errorf("mnist: %w", err)
	}
	if got != want {
		return &FileError{Path: path, Problem: ErrChecksum, Detail: fmt.Sprintf("got %s, want %s", got, want)}
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

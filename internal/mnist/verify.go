package mnist

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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
func Verify(ctx context.Context, dir string) (train, test *Set, err error) {
	return verify(ctx, dir, sha256Sums)
}

// verify is Verify with the expected digests as a parameter, so tests can
// run it on small hand-made files.
func verify(ctx context.Context, dir string, sums map[string]string) (train, test *Set, err error) {
	var errs []error
	for _, name := range fileNames {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("mnist: verifying %s: %w", dir, context.Cause(ctx))
		}
		if err := checkSum(ctx, filepath.Join(dir, name), sums[name]); err != nil {
			if ctx.Err() != nil {
				return nil, nil, err
			}
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return Load(ctx, dir)
}

// checkSum reports ErrMissing or ErrChecksum for path, or nil if it matches.
func checkSum(ctx context.Context, path, want string) error {
	got, err := fileSHA256(ctx, path)
	if err != nil {
		return err
	}
	if got != want {
		return &FileError{Path: path, Problem: ErrChecksum, Detail: fmt.Sprintf("got %s, want %s", got, want)}
	}
	return nil
}

// fileSHA256 hashes a regular file, stopping when ctx is cancelled.
func fileSHA256(ctx context.Context, path string) (string, error) {
	f, err := openRegular(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", fmt.Errorf("mnist: reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mnistgpu/mnistgpu/internal/mnist"
)

// DataCmd groups the data-set commands.
type DataCmd struct {
	Fetch  DataFetchCmd  `cmd:"" help:"Download the four MNIST files (skips files already present and valid) and verify them."`
	Verify DataVerifyCmd `cmd:"" help:"Check the four MNIST files: present, sha256 as published, parseable."`
}

// dataDirFlag is shared by every command that reads MNIST.
type dataDirFlag struct {
	DataDir string `name:"data-dir" placeholder:"DIR" help:"Folder of the four MNIST .gz files (default: the per-user cache, e.g. ~/.cache/mnistgpu/mnist)." type:"path"`
}

func (f dataDirFlag) dir() (string, error) {
	if f.DataDir != "" {
		return f.DataDir, nil
	}
	return mnist.DefaultDir()
}

type DataFetchCmd struct {
	dataDirFlag
}

func (c *DataFetchCmd) Run(ctx context.Context) error {
	dir, err := c.dir()
	if err != nil {
		return err
	}
	if _, _, err := mnist.Ensure(ctx, dir, mnist.FetchOptions{Progress: os.Stderr}); err != nil {
		return err
	}
	fmt.Printf("MNIST ready in %s (all four files verified)\n", dir)
	return nil
}

type DataVerifyCmd struct {
	dataDirFlag
}

func (c *DataVerifyCmd) Run(ctx context.Context) error {
	dir, err := c.dir()
	if err != nil {
		return err
	}
	if _, _, err := mnist.Verify(ctx, dir); err != nil {
		return err
	}
	fmt.Printf("MNIST in %s: all four files present, checksums match, contents parse\n", dir)
	return nil
}

// loadData returns both splits for train and eval. The default cache always
// holds the official files: whatever is missing or fails its published
// sha256 is fetched, then everything is verified. An explicit --data-dir
// that holds all four files may be the user's own IDX set: files that parse
// as 28x28 digits are used even when their sha256 differs from MNIST's, with
// a one-line warning, and are never overwritten. An explicit --data-dir
// with none of the files is filled as the cache is; one with only some of
// them is an error, since completing it could replace a user's own files.
func loadData(ctx context.Context, f dataDirFlag) (trainSet, testSet *mnist.Set, err error) {
	dir, err := f.dir()
	if err != nil {
		return nil, nil, err
	}
	present, missing := presence(dir)
	if f.DataDir != "" && len(present) > 0 && len(missing) > 0 {
		// Fetching here would also replace present files that are not the
		// published MNIST, which may be the user's own; ask instead.
		return nil, nil, fmt.Errorf("%s holds %s but not %s; run `mnistgpu data fetch --data-dir %s` to complete it with the published MNIST (files that differ from it are replaced)",
			dir, strings.Join(present, ", "), strings.Join(missing, ", "), dir)
	}
	if f.DataDir == "" || len(missing) > 0 {
		return mnist.Ensure(ctx, dir, mnist.FetchOptions{Progress: os.Stderr})
	}
	trainSet, testSet, verr := mnist.Verify(ctx, dir)
	if verr == nil {
		return trainSet, testSet, nil
	}
	if !onlyChecksums(verr) {
		return nil, nil, verr
	}
	// Verify stops at checksums; Load says what is wrong with a file that
	// does not parse, naming it.
	if trainSet, testSet, err = mnist.Load(ctx, dir); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(os.Stderr, "mnistgpu: warning: %s: the files parse but are not the published MNIST (sha256 differs); using them as a custom data set\n", dir)
	return trainSet, testSet, nil
}

// presence splits the four file names into those dir holds and those it lacks.
func presence(dir string) (present, missing []string) {
	for _, name := range []string{mnist.TrainImages, mnist.TrainLabels, mnist.TestImages, mnist.TestLabels} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			missing = append(missing, name)
		} else {
			present = append(present, name)
		}
	}
	return present, missing
}

// onlyChecksums reports whether err is nothing but sha256 mismatches.
func onlyChecksums(err error) bool {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *mnist.FileError
		if !errors.As(e, &fe) || fe.Problem != mnist.ErrChecksum {
			return false
		}
	}
	return true
}

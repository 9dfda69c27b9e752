package main

import (
	"context"
	"fmt"
	"os"

	"github.com/mnistgpu/mnistgpu/internal/mnist"
)

// DataCmd groups the data-set commands.
type DataCmd struct {
	Fetch  DataFetchCmd  `cmd:"" help:"Download the four MNIST files (skips files already present and valid) and verify them."`
	Verify DataVerifyCmd `cmd:"" help:"Check the four MNIST files: present, sha256 as published, parseable."`
}

// dataDirFlag is shared by every command that reads MNIST.
type dataDirFlag struct {
	DataDir string `name:"data-dir" help:"Folder of the four MNIST .gz files (default: the per-user cache, e.g. ~/.cache/mnistgpu/mnist)." type:"path"`
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
	if err := mnist.Ensure(ctx, dir, mnist.FetchOptions{Progress: os.Stderr}); err != nil {
		return err
	}
	fmt.Printf("MNIST ready in %s (all four files verified)\n", dir)
	return nil
}

type DataVerifyCmd struct {
	dataDirFlag
}

func (c *DataVerifyCmd) Run() error {
	dir, err := c.dir()
	if err != nil {
		return err
	}
	if err := mnist.Verify(dir); err != nil {
		return err
	}
	fmt.Printf("MNIST in %s: all four files present, checksums match, contents parse\n", dir)
	return nil
}

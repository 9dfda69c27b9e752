package main

import (
	"fmt"
	"os"

	"github.com/mnistgpu/mnistgpu/internal/checkpoint"
	"github.com/mnistgpu/mnistgpu/internal/model"
)

// readCheckpointFile reads and checks a checkpoint, every error naming path.
func readCheckpointFile(path string) (*checkpoint.Header, *model.Spec, map[string][]float32, error) {
	// A named pipe or device would block the open or never end.
	if info, err := os.Stat(path); err != nil {
		return nil, nil, nil, err
	} else if !info.Mode().IsRegular() {
		return nil, nil, nil, fmt.Errorf("%s: not a regular file (mode %s), so not a checkpoint", path, info.Mode())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	header, values, err := checkpoint.Read(f)
	f.Close()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	spec, err := checkpoint.Check(header)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return header, spec, values, nil
}

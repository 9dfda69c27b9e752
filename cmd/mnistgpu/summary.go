package main

import (
	"os"

	"github.com/mnistgpu/mnistgpu/internal/model"
)

// SummaryCmd prints the model table.
type SummaryCmd struct {
	Kernel int `default:"3" help:"Kernel size of the ResNet block's convolutions (odd, e.g. 3 or 5)."`
}

func (c *SummaryCmd) Validate() error { return model.Config{Kernel: c.Kernel}.Validate() }

func (c *SummaryCmd) Run() error {
	spec, err := model.Declare(model.Config{Kernel: c.Kernel})
	if err != nil {
		return err
	}
	return spec.WriteSummary(os.Stdout)
}

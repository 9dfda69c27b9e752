package main

import (
	"fmt"
	"os"

	"github.com/mnistgpu/mnistgpu/internal/model"
)

// SummaryCmd prints the model table.
type SummaryCmd struct {
	Kernel int `short:"k" default:"3" placeholder:"N" help:"Kernel size of the ResNet block's convolutions: odd, e.g. 3 or 5."`
}

func (c *SummaryCmd) Validate() error {
	if err := (model.Config{Kernel: c.Kernel}).Validate(); err != nil {
		return fmt.Errorf("--kernel: %w", err)
	}
	return nil
}

func (c *SummaryCmd) Run() error {
	spec, err := model.Declare(model.Config{Kernel: c.Kernel})
	if err != nil {
		return err
	}
	return spec.WriteSummary(os.Stdout)
}

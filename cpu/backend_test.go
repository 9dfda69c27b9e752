package cpu

import "github.com/mnistgpu/mnistgpu/internal/backend"

// The CPU backend must implement the whole interface.
var _ backend.Backend = (*Backend)(nil)

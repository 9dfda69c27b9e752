//go:build !arm64 || purego

package cpu

// hasNEON is set only on arm64 (kernel_arm64.go).
var hasNEON = false

//go:build !cgo

package cuda

// Supported reports whether this build can load CUDA: without cgo there is
// no dlopen, so the GPU backend is compiled out.
const Supported = false

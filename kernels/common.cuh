// Shared by every kernels/*.cu file: the files are concatenated after this
// one (package kernels) and compiled by NVRTC as one translation unit at run
// time, for the GPU at hand, so they use no headers: only NVRTC's built-in
// types, index variables, math functions and atomics.
//
// Layouts follow internal/backend: activations NHWC with channels innermost,
// so a per-channel value for flat element i is at i % channels.
// Element counts that can exceed 2^31 (a batch of activations) are long long.
//
// Grid/block contract: a kernel written with GRID_STRIDE_LOOP is correct for
// any grid and block size (the backend launches 256 threads per block and up
// to 65,536 blocks); kernels with another contract say so.

#define GRID_STRIDE_LOOP(i, n)                                                        \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n);     \
         i += (long long)blockDim.x * gridDim.x)

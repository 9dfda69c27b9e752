// Layout changes between Keras and cuDNN.

// transpose writes the (cols, rows) transpose of a (rows, cols) matrix: it
// turns Keras kernels (KH, KW, Cin, Cout) into cuDNN's NHWC filters
// (Cout, KH, KW, Cin) and filter gradients back.
extern "C" __global__ void transpose(float *dst, const float *src, int rows, int cols) {
    long long n = (long long)rows * cols;
    GRID_STRIDE_LOOP(i, n) {
        int r = (int)(i / cols), c = (int)(i % cols);
        dst[(long long)c * rows + r] = src[i];
    }
}

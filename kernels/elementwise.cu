// Element-wise ops: bias, ReLU and its gradient, the residual add.

// bias_add adds b[c] to every element of channel c, in place.
extern "C" __global__ void bias_add(float *y, const float *b, long long n, int channels) {
    GRID_STRIDE_LOOP(i, n) { y[i] += b[i % channels]; }
}

extern "C" __global__ void relu(float *y, const float *x, long long n) {
    GRID_STRIDE_LOOP(i, n) { y[i] = fmaxf(x[i], 0.0f); }
}

// relu_backward passes dy except where the forward output was ≤ 0 (a NaN
// output passes it, as on the CPU backend); dx may be dy.
extern "C" __global__ void relu_backward(float *dx, const float *dy, const float *y, long long n) {
    GRID_STRIDE_LOOP(i, n) { dx[i] = !(y[i] <= 0.0f) ? dy[i] : 0.0f; }
}

extern "C" __global__ void add(float *y, const float *a, const float *b, long long n) {
    GRID_STRIDE_LOOP(i, n) { y[i] = a[i] + b[i]; }
}

// 2x2 max pooling, stride 2, and its gradient.

// window_top_left maps output element i of a 2x2, stride-2 pool of an
// (images, h, w, channels) input to the input index of its window's
// top-left element.
__device__ long long window_top_left(long long i, int h, int w, int channels) {
    int oh = h / 2, ow = w / 2;
    int c = (int)(i % channels);
    long long r = i / channels;
    int ox = (int)(r % ow);
    r /= ow;
    int oy = (int)(r % oh);
    long long image = r / oh;
    return ((image * h + 2 * oy) * w + 2 * ox) * channels + c;
}

// maxpool2x2: 2x2 windows, stride 2, floor; one thread per output element.
extern "C" __global__ void maxpool2x2(float *y, const float *x, int images, int h, int w,
                                      int channels) {
    long long n = (long long)images * (h / 2) * (w / 2) * channels;
    long long row = (long long)w * channels;
    GRID_STRIDE_LOOP(i, n) {
        long long top_left = window_top_left(i, h, w, channels);
        y[i] = fmaxf(fmaxf(x[top_left], x[top_left + channels]),
                     fmaxf(x[top_left + row], x[top_left + row + channels]));
    }
}

// maxpool2x2_backward routes each dy to the first maximum of its window in
// the order top-left, top-right, bottom-left, bottom-right (as the CPU
// backend does) and writes 0 to the window's other three elements. Rows and
// columns beyond the last full window are cleared by the caller.
extern "C" __global__ void maxpool2x2_backward(float *dx, const float *dy, const float *x,
                                               int images, int h, int w, int channels) {
    long long n = (long long)images * (h / 2) * (w / 2) * channels;
    long long row = (long long)w * channels;
    GRID_STRIDE_LOOP(i, n) {
        long long at[4];
        at[0] = window_top_left(i, h, w, channels);
        at[1] = at[0] + channels;
        at[2] = at[0] + row;
        at[3] = at[0] + row + channels;
        int best = 0;
        for (int k = 1; k < 4; k++) {
            if (x[at[k]] > x[at[best]]) {
                best = k;
            }
        }
        for (int k = 0; k < 4; k++) {
            dx[at[k]] = k == best ? dy[i] : 0.0f;
        }
    }
}

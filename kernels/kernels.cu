// Kernels for the ops cuDNN and cuBLAS do not cover. Compiled at run time by
// NVRTC for the GPU at hand, so this file uses no headers: only NVRTC's
// built-in types, index variables, math functions and atomics.
//
// Layouts follow internal/backend: activations NHWC with channels innermost,
// so a per-channel value for flat element i is at i % channels.
// Element counts that can exceed 2^31 (a batch of activations) are long long.

#define GRID_STRIDE_LOOP(i, n)                                                        \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n);     \
         i += (long long)blockDim.x * gridDim.x)

// gather_batch writes images perm[offset+b] of the dataset, scaled to [0,1],
// and their labels. The division matches the CPU backend's float32(v)/255.
// An index outside the dataset yields a black image labelled -1, which the
// loss kernels ignore (the host checks permutations before uploading them).
extern "C" __global__ void gather_batch(float *x, int *y, const unsigned char *pixels,
                                        const unsigned char *labels, int images, const int *perm,
                                        int offset, int batch, int pixels_per_image) {
    long long n = (long long)batch * pixels_per_image;
    GRID_STRIDE_LOOP(i, n) {
        int b = (int)(i / pixels_per_image);
        int p = (int)(i % pixels_per_image);
        long long image = perm[offset + b];
        bool valid = image >= 0 && image < images;
        x[i] = valid ? (float)pixels[image * pixels_per_image + p] / 255.0f : 0.0f;
        if (p == 0) {
            y[b] = valid ? labels[image] : -1;
        }
    }
}

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

// batchnorm_infer normalises with the moving statistics; y may be x. The
// order of operations is the CPU backend's: 1/sqrt(var+eps) in double, then
// (x - mean) * (inv_std * gamma) + beta in float.
extern "C" __global__ void batchnorm_infer(float *y, const float *x, const float *gamma,
                                           const float *beta, const float *moving_mean,
                                           const float *moving_var, long long n, int channels,
                                           float eps) {
    GRID_STRIDE_LOOP(i, n) {
        int c = (int)(i % channels);
        float inv_std = (float)(1.0 / sqrt((double)moving_var[c] + (double)eps));
        y[i] = (x[i] - moving_mean[c]) * (inv_std * gamma[c]) + beta[c];
    }
}

// batchnorm_moving_update applies the Keras update
//   moving = moving*momentum + batch*(1-momentum)
// with the biased batch variance recovered from cuDNN's saved 1/sqrt(var+eps):
// cuDNN's own running-variance update uses the unbiased estimate, Keras does not.
extern "C" __global__ void batchnorm_moving_update(float *moving_mean, float *moving_var,
                                                   const float *save_mean,
                                                   const float *save_inv_std, int channels,
                                                   float momentum, float eps) {
    GRID_STRIDE_LOOP(c, channels) {
        float inv_std = save_inv_std[c];
        float variance = fmaxf(1.0f / (inv_std * inv_std) - eps, 0.0f);
        moving_mean[c] = moving_mean[c] * momentum + save_mean[c] * (1.0f - momentum);
        moving_var[c] = moving_var[c] * momentum + variance * (1.0f - momentum);
    }
}

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

// first_argmax returns the index of the first largest of z[0..classes).
__device__ int first_argmax(const float *z, int classes) {
    int best = 0;
    for (int j = 1; j < classes; j++) {
        if (z[j] > z[best]) {
            best = j;
        }
    }
    return best;
}

// block_sum_add reduces v over the block (blockDim.x a power of two, at most
// 1024) and adds the total to *out with one atomic.
__device__ void block_sum_add(float *out, float v) {
    __shared__ float partial[1024];
    partial[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride) {
            partial[threadIdx.x] += partial[threadIdx.x + stride];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        atomicAdd(out, partial[0]);
    }
}

// softmax_cross_entropy: one thread per row. Adds the summed loss to
// stats[2*slot] and the count of correct argmax predictions to
// stats[2*slot+1]; unless dlogits is null writes (softmax - onehot)/rows.
// A label outside 0..classes-1 contributes nothing (labels are checked when
// the dataset is uploaded).
extern "C" __global__ void softmax_cross_entropy(float *dlogits, float *stats, int slot,
                                                 const float *logits, const int *labels,
                                                 int rows, int classes) {
    float loss = 0.0f, correct = 0.0f;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < rows) {
        const float *z = logits + (long long)i * classes;
        int label = labels[i];
        int best = first_argmax(z, classes);
        float top = z[best];
        float sum = 0.0f;
        for (int j = 0; j < classes; j++) {
            sum += expf(z[j] - top);
        }
        float log_sum_exp = top + logf(sum);
        bool valid = label >= 0 && label < classes;
        if (valid) {
            loss = log_sum_exp - z[label];
            correct = best == label ? 1.0f : 0.0f;
        }
        if (dlogits != 0) {
            float *g = dlogits + (long long)i * classes;
            for (int j = 0; j < classes; j++) {
                float p = expf(z[j] - log_sum_exp);
                if (j == label) {
                    p -= 1.0f;
                }
                g[j] = p / (float)rows;
            }
        }
    }
    block_sum_add(&stats[2 * slot], loss);
    block_sum_add(&stats[2 * slot + 1], correct);
}

// confusion adds one count per row at counts[label][argmax].
extern "C" __global__ void confusion(float *counts, const float *logits, const int *labels,
                                     int rows, int classes) {
    GRID_STRIDE_LOOP(i, rows) {
        int label = labels[i];
        if (label >= 0 && label < classes) {
            int best = first_argmax(logits + i * classes, classes);
            atomicAdd(&counts[label * classes + best], 1.0f);
        }
    }
}

// adam is the Keras update with the bias corrections folded into alpha
// (computed on the host in double precision, as the CPU backend does).
extern "C" __global__ void adam(float *p, const float *g, float *m, float *v, long long n,
                                float alpha, float beta1, float beta2, float eps) {
    GRID_STRIDE_LOOP(i, n) {
        float gi = g[i];
        float mi = m[i] + (gi - m[i]) * (1.0f - beta1);
        float vi = v[i] + (gi * gi - v[i]) * (1.0f - beta2);
        m[i] = mi;
        v[i] = vi;
        p[i] -= alpha * mi / (sqrtf(vi) + eps);
    }
}

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

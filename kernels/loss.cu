// Softmax cross-entropy with its gradient and counts, and the confusion matrix.

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

// softmax_cross_entropy: one thread per row, launched with a power-of-two
// block of at most 1024 threads and at least rows threads in all (no
// grid-stride loop: every thread must reach block_sum_add). Adds the summed loss to
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

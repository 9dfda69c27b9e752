// The optimizer step over the flat parameter buffer.

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

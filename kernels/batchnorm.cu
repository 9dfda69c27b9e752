// Batch-norm inference and the Keras moving averages (cuDNN does the
// training forward and backward passes).

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

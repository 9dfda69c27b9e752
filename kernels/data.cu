// Batches gathered on the device from the uploaded data set.

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

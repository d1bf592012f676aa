// Internal: per-ISA row loops behind layer_norm / rms_norm (portable in norms.cpp, vector twins in
// norms_avx2.cpp / norms_avx512.cpp). Each normalises `rows` contiguous rows with one (shift, scale) row
// (either may be null); no threading.
#pragma once
#include <cstdint>

namespace ditto::cpu::detail {

using LayerNormRowsFn = void (*)(const float* x, float* out, int64_t rows, int64_t dim, float eps,
                                 const float* weight, const float* bias, const float* shift, const float* scale);
using RmsNormRowsFn = void (*)(const float* x, float* out, int64_t rows, int64_t dim, float eps,
                               const float* weight);

void layer_norm_rows_portable(const float* x, float* out, int64_t rows, int64_t dim, float eps,
                              const float* weight, const float* bias, const float* shift, const float* scale);
void layer_norm_rows_avx2(const float* x, float* out, int64_t rows, int64_t dim, float eps,
                          const float* weight, const float* bias, const float* shift, const float* scale);
void layer_norm_rows_avx512(const float* x, float* out, int64_t rows, int64_t dim, float eps,
                            const float* weight, const float* bias, const float* shift, const float* scale);
void rms_norm_rows_portable(const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight);
void rms_norm_rows_avx2(const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight);
void rms_norm_rows_avx512(const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight);

}  // namespace ditto::cpu::detail

namespace ditto::cpu {

// The shared RMSNorm row loop (Flux / SD3 per head, Wan across heads; rms_norm() is its pooled form):
// out[r,:] = x[r,:] / sqrt(mean(x[r,:]^2) + eps) * weight (weight nullable), accumulation in float or wider.
// rows contiguous rows of `cols` floats; out may alias x; no threading.
void rms_norm_rows(const float* x, const float* weight /* nullable */, float* out, int64_t rows, int64_t cols,
                   float eps);

}  // namespace ditto::cpu

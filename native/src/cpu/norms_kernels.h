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

// RMSNorm over `rows` contiguous rows of `cols`: out = x / sqrt(mean(x^2) + eps) * weight (weight nullable),
// on the calling thread (the ISA twin picked at run time). out may alias x. Used per head for the q/k norms
// of SD3 / Flux (over head_dim) and over the full inner dim by Wan.
void rms_norm_rows(const float* x, const float* weight /* nullable */, float* out, int64_t rows, int64_t cols, float eps);

}  // namespace ditto::cpu

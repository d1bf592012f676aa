// Normalisations fused with adaLN modulation: out = LN(x)·(1 + scale) + shift, with one (shift, scale) row
// per group of rows (per sample: rows_per_group = tokens). LayerNorm with or without affine, RMSNorm.
#pragma once
#include <cstdint>

#include "ditto/thread_pool.h"

namespace ditto::cpu {

struct Modulation {
  const float* shift = nullptr;  // row g at shift + g*stride
  const float* scale = nullptr;  // row g at scale + g*stride
  int64_t rows_per_group = 1;
  int64_t stride = 0;
};

// out[r,:] = ((x[r,:] - mean) / sqrt(var + eps)) [* weight + bias] [* (1 + scale_g) + shift_g]
// Statistics in float32 over two passes like PyTorch (mean first, then centred variance).
void layer_norm(ThreadPool& pool, const float* x, float* out, int64_t rows, int64_t dim, float eps,
                const float* weight = nullptr, const float* bias = nullptr, const Modulation& mod = {});
// out[r,:] = x[r,:] / sqrt(mean(x²) + eps) * weight
void rms_norm(ThreadPool& pool, const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight);

void layer_norm_reference(const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight,
                          const float* bias, const Modulation& mod);
void rms_norm_reference(const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight);

}  // namespace ditto::cpu

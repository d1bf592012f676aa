// AVX2+FMA LayerNorm(+affine)(+adaLN modulate) and RMSNorm rows: the AVX-512 loops at 8 lanes (32 partial
// sums per statistics pass), with the (< 8 element) tail finished in scalar code in the same float32 order.
#include <immintrin.h>

#include <cmath>

#include "cpu/norms_kernels.h"
#include "cpu/vec_math_avx2.h"

namespace ditto::cpu::detail {

void layer_norm_rows_avx2(const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight,
                          const float* bias, const float* shift, const float* scale) {
  const int64_t full = dim & ~int64_t{7};
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = out + r * dim;
    // Four accumulators (32 partial sums): shorter dependency chains and a cascade-like summation order.
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i0 = 0;
    for (; i0 + 32 <= full; i0 += 32)
      for (int u = 0; u < 4; ++u) acc[u] = _mm256_add_ps(acc[u], _mm256_loadu_ps(xr + i0 + 8 * u));
    for (; i0 < full; i0 += 8) acc[0] = _mm256_add_ps(acc[0], _mm256_loadu_ps(xr + i0));
    float sum = hsum_avx2(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (int64_t i = full; i < dim; ++i) sum += xr[i];
    const float mean = sum / static_cast<float>(dim);
    const __m256 vmean = _mm256_set1_ps(mean);
    __m256 sqv[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (i0 = 0; i0 + 32 <= full; i0 += 32) {
      for (int u = 0; u < 4; ++u) {
        const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(xr + i0 + 8 * u), vmean);
        sqv[u] = _mm256_fmadd_ps(d, d, sqv[u]);
      }
    }
    for (; i0 < full; i0 += 8) {
      const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(xr + i0), vmean);
      sqv[0] = _mm256_fmadd_ps(d, d, sqv[0]);
    }
    float sq = hsum_avx2(_mm256_add_ps(_mm256_add_ps(sqv[0], sqv[1]), _mm256_add_ps(sqv[2], sqv[3])));
    for (int64_t i = full; i < dim; ++i) sq += (xr[i] - mean) * (xr[i] - mean);
    const float rstd = 1.f / std::sqrt(sq / static_cast<float>(dim) + eps);
    const __m256 vrstd = _mm256_set1_ps(rstd);
    const __m256 one = _mm256_set1_ps(1.f);
    for (int64_t i = 0; i < full; i += 8) {
      __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), vmean), vrstd);
      if (weight) v = _mm256_mul_ps(v, _mm256_loadu_ps(weight + i));
      if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + i));
      if (scale) v = _mm256_mul_ps(v, _mm256_add_ps(one, _mm256_loadu_ps(scale + i)));
      if (shift) v = _mm256_add_ps(v, _mm256_loadu_ps(shift + i));
      _mm256_storeu_ps(yr + i, v);
    }
    for (int64_t i = full; i < dim; ++i) {
      float v = (xr[i] - mean) * rstd;
      if (weight) v = v * weight[i];
      if (bias) v = v + bias[i];
      if (scale) v = v * (1.f + scale[i]);
      if (shift) v = v + shift[i];
      yr[i] = v;
    }
  }
}

void rms_norm_rows_avx2(const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight) {
  const int64_t full = dim & ~int64_t{7};
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = out + r * dim;
    __m256 sqv = _mm256_setzero_ps();
    for (int64_t i = 0; i < full; i += 8) {
      const __m256 v = _mm256_loadu_ps(xr + i);
      sqv = _mm256_fmadd_ps(v, v, sqv);
    }
    float sq = hsum_avx2(sqv);
    for (int64_t i = full; i < dim; ++i) sq += xr[i] * xr[i];
    const float rinv = 1.f / std::sqrt(sq / static_cast<float>(dim) + eps);
    const __m256 vrinv = _mm256_set1_ps(rinv);
    for (int64_t i = 0; i < full; i += 8) {
      __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xr + i), vrinv);
      if (weight) v = _mm256_mul_ps(v, _mm256_loadu_ps(weight + i));
      _mm256_storeu_ps(yr + i, v);
    }
    for (int64_t i = full; i < dim; ++i) yr[i] = weight ? xr[i] * rinv * weight[i] : xr[i] * rinv;
  }
}

}  // namespace ditto::cpu::detail

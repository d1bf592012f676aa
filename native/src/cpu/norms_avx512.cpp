// AVX-512 LayerNorm(+affine)(+adaLN modulate) and RMSNorm rows. Same two-pass float32 statistics as the
// portable loop, with 16 partial sums per pass (a slightly more accurate summation order than a serial sum).
// The normalise-and-modulate pass is fused into one sweep; tails use masked loads/stores.
// GCC 12 flags its own _mm512_undefined_ps() inside max/scalef/roundscale as maybe-uninitialized (a known
// false positive, GCC PR 105593); silence it for the AVX-512 translation units.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "cpu/norms_kernels.h"

namespace ditto::cpu::detail {

namespace {
inline __mmask16 tail_mask(int64_t left) { return static_cast<__mmask16>((1u << left) - 1); }
}  // namespace

void layer_norm_rows_avx512(const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight,
                            const float* bias, const float* shift, const float* scale) {
  const int64_t full = dim & ~int64_t{15};
  const __mmask16 tail = tail_mask(dim - full);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = out + r * dim;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t i = 0;
    for (; i + 64 <= full; i += 64)
      for (int u = 0; u < 4; ++u) acc[u] = _mm512_add_ps(acc[u], _mm512_loadu_ps(xr + i + 16 * u));
    for (; i < full; i += 16) acc[0] = _mm512_add_ps(acc[0], _mm512_loadu_ps(xr + i));
    if (tail) acc[1] = _mm512_add_ps(acc[1], _mm512_maskz_loadu_ps(tail, xr + full));
    const __m512 total = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    const float mean = _mm512_reduce_add_ps(total) / static_cast<float>(dim);
    const __m512 vmean = _mm512_set1_ps(mean);
    __m512 sq[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (i = 0; i + 64 <= full; i += 64) {
      for (int u = 0; u < 4; ++u) {
        const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(xr + i + 16 * u), vmean);
        sq[u] = _mm512_fmadd_ps(d, d, sq[u]);
      }
    }
    for (; i < full; i += 16) {
      const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(xr + i), vmean);
      sq[0] = _mm512_fmadd_ps(d, d, sq[0]);
    }
    if (tail) {
      const __m512 d = _mm512_maskz_sub_ps(tail, _mm512_maskz_loadu_ps(tail, xr + full), vmean);
      sq[1] = _mm512_fmadd_ps(d, d, sq[1]);
    }
    const __m512 sq_total = _mm512_add_ps(_mm512_add_ps(sq[0], sq[1]), _mm512_add_ps(sq[2], sq[3]));
    const float rstd = 1.f / std::sqrt(_mm512_reduce_add_ps(sq_total) / static_cast<float>(dim) + eps);
    const __m512 vrstd = _mm512_set1_ps(rstd);
    const __m512 one = _mm512_set1_ps(1.f);
    for (i = 0; i < dim; i += 16) {
      const __mmask16 m = i < full ? __mmask16(0xFFFF) : tail;
      __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + i), vmean), vrstd);
      if (weight) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, weight + i));
      if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + i));
      if (scale) v = _mm512_mul_ps(v, _mm512_add_ps(one, _mm512_maskz_loadu_ps(m, scale + i)));
      if (shift) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, shift + i));
      _mm512_mask_storeu_ps(yr + i, m, v);
    }
  }
}

void rms_norm_rows_avx512(const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight) {
  const int64_t full = dim & ~int64_t{15};
  const __mmask16 tail = tail_mask(dim - full);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = out + r * dim;
    __m512 sq = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; i += 16) {
      const __m512 v = _mm512_loadu_ps(xr + i);
      sq = _mm512_fmadd_ps(v, v, sq);
    }
    if (tail) {
      const __m512 v = _mm512_maskz_loadu_ps(tail, xr + full);
      sq = _mm512_fmadd_ps(v, v, sq);
    }
    const __m512 rinv = _mm512_set1_ps(1.f / std::sqrt(_mm512_reduce_add_ps(sq) / static_cast<float>(dim) + eps));
    for (int64_t i = 0; i < dim; i += 16) {
      const __mmask16 m = i < full ? __mmask16(0xFFFF) : tail;
      __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + i), rinv);
      if (weight) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, weight + i));
      _mm512_mask_storeu_ps(yr + i, m, v);
    }
  }
}

}  // namespace ditto::cpu::detail

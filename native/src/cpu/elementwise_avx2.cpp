// AVX2+FMA SiLU and tanh-GELU, same logistic forms as elementwise_avx512.cpp; the tail (< 8 elements)
// goes through a zero-padded stack buffer.
#include <cstring>

#include "cpu/elementwise_kernels.h"
#include "cpu/vec_math_avx2.h"

namespace ditto::cpu::detail {

namespace {
inline __m256 silu_vec(__m256 x) {
  const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x));
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.f), e));
}
inline __m256 gelu_vec(__m256 x) {
  const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
  const __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f),
                                 _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x));
  const __m256 e = exp_avx2(_mm256_mul_ps(_mm256_set1_ps(-2.f), u));
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.f), e));
}
template <class F>
inline void apply(const float* x, float* out, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, f(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float buf[8] = {};
    std::memcpy(buf, x + i, sizeof(float) * (n - i));
    _mm256_store_ps(buf, f(_mm256_load_ps(buf)));
    std::memcpy(out + i, buf, sizeof(float) * (n - i));
  }
}
}  // namespace

void silu_avx2(const float* x, float* out, int64_t n) { apply(x, out, n, silu_vec); }
void gelu_tanh_avx2(const float* x, float* out, int64_t n) { apply(x, out, n, gelu_vec); }

}  // namespace ditto::cpu::detail

// AVX-512 SiLU and tanh-GELU. Both use the logistic form so that no tanh is needed and no cancellation
// occurs: 0.5·(1 + tanh(u)) = 1/(1 + e^(−2u)), hence gelu_tanh(x) = x / (1 + e^(−2u)), silu(x) = x / (1 + e^(−x)).
// Within a few ulp of the scalar forms (docs/numerics.md); tails are handled with masked loads/stores.
#include "cpu/elementwise_kernels.h"
#include "cpu/vec_math_avx512.h"

namespace ditto::cpu::detail {

namespace {
inline __m512 silu_vec(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.f);
  const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x));
  return _mm512_div_ps(x, _mm512_add_ps(one, e));
}
inline __m512 gelu_vec(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.f);
  const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
  const __m512 u = _mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f),
                                 _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), x3, x));
  const __m512 e = exp_avx512(_mm512_mul_ps(_mm512_set1_ps(-2.f), u));
  return _mm512_div_ps(x, _mm512_add_ps(one, e));
}
template <class F>
inline void apply(const float* x, float* out, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, f(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(out + i, m, f(_mm512_maskz_loadu_ps(m, x + i)));
  }
}
}  // namespace

void silu_avx512(const float* x, float* out, int64_t n) { apply(x, out, n, silu_vec); }
void gelu_tanh_avx512(const float* x, float* out, int64_t n) { apply(x, out, n, gelu_vec); }

}  // namespace ditto::cpu::detail

// Internal, header-only: the GEMM epilogue (bias, GELU-tanh / SiLU, gated residual) for one output row
// segment in AVX-512, shared by gemm_avx512.cpp and gemm_avx512bf16.cpp (include only from those).
// GELU-tanh is evaluated as x·σ(2u) = x / (1 + e^(−2u)), u = √(2/π)(x + 0.044715x³): identical to PyTorch's
// 0.5x(1 + tanh u) in real arithmetic, using the ≤ 2 ulp vector exp of vec_math_avx512.h and an IEEE
// division; it avoids the cancellation in 1 + tanh u for x ≪ 0 (docs/numerics.md, GEMM).
#pragma once
#include <immintrin.h>

#include "cpu/gemm_kernels.h"
#include "cpu/vec_math_avx512.h"

namespace ditto::cpu::gemm {

inline __m512 activation_avx512(__m512 v, Activation act) {
  if (act == Activation::GeluTanh) {
    const __m512 v2 = _mm512_mul_ps(v, v);
    const __m512 inner = _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), v2, _mm512_set1_ps(1.f));
    const __m512 minus_2u = _mm512_mul_ps(_mm512_mul_ps(v, inner), _mm512_set1_ps(-2.f * 0.7978845608028654f));
    return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.f), detail::exp_avx512(minus_2u)));
  }
  if (act == Activation::Silu)
    return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.f), detail::exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), v))));
  return v;
}

inline void epilogue_row_avx512(const float* c, float* y, int64_t n, int64_t row, int64_t j0, const Epilogue& e) {
  const float* bias = e.bias ? e.bias + j0 : nullptr;
  const float* gate = e.gate ? e.gate + gate_row_offset(e, row) + j0 : nullptr;
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 mask = n - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - j)) - 1);
    __m512 v = _mm512_maskz_loadu_ps(mask, c + j);
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, bias + j));
    v = activation_avx512(v, e.activation);
    if (gate) v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, gate + j), v, _mm512_maskz_loadu_ps(mask, y + j));
    _mm512_mask_storeu_ps(y + j, mask, v);
  }
}

}  // namespace ditto::cpu::gemm

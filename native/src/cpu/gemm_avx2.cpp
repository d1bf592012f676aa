// AVX2+FMA GEMM micro-kernel: a 6×16 register tile (12 ymm accumulators, two B vectors and one broadcast:
// the classic Haswell-class BLIS shape), with row-count specialisations 1..6 for the last strip. Serves F32
// layers and BF16 layers (f32 math over bf16-rounded operands) on machines without AVX-512. The epilogue
// uses the ≤ 2 ulp exp of vec_math_avx2.h (GELU-tanh as x·σ(2u), see gemm_epilogue_avx512.h).
#include "cpu/gemm_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <array>
#include <utility>

#include "cpu/vec_math_avx2.h"

namespace ditto::cpu::gemm {
namespace {

constexpr int kMr = 6, kNr = 16;

template <int ROWS>
void compute_rows(int64_t kc, const float* a, int64_t a_stride, const float* b, float* c, int64_t ldc,
                  bool accumulate, const char* prefetch, int64_t prefetch_lines) {
  __m256 acc0[ROWS], acc1[ROWS];
  for (int i = 0; i < ROWS; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
  for (int64_t kk = 0; kk < kc; ++kk) {
    if (kk < prefetch_lines) _mm_prefetch(prefetch + kk * 64, _MM_HINT_T1);
    const __m256 b0 = _mm256_loadu_ps(b + kk * kNr), b1 = _mm256_loadu_ps(b + kk * kNr + 8);
    for (int i = 0; i < ROWS; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i * a_stride + kk);
      acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
    }
  }
  for (int i = 0; i < ROWS; ++i) {
    float* ci = c + i * ldc;
    if (accumulate) {
      acc0[i] = _mm256_add_ps(acc0[i], _mm256_loadu_ps(ci));
      acc1[i] = _mm256_add_ps(acc1[i], _mm256_loadu_ps(ci + 8));
    }
    _mm256_storeu_ps(ci, acc0[i]);
    _mm256_storeu_ps(ci + 8, acc1[i]);
  }
}

using RowsFn = void (*)(int64_t, const float*, int64_t, const float*, float*, int64_t, bool, const char*, int64_t);
template <int... R>
constexpr auto make_table(std::integer_sequence<int, R...>) {
  return std::array<RowsFn, sizeof...(R)>{compute_rows<R + 1>...};
}
constexpr auto kByRows = make_table(std::make_integer_sequence<int, kMr>{});

void compute(int64_t kc, const void* a, int64_t a_stride, const void* b, float* c, int64_t ldc, bool accumulate,
             int rows, const void* prefetch, int64_t prefetch_lines) {
  kByRows[rows - 1](kc, static_cast<const float*>(a), a_stride, static_cast<const float*>(b), c, ldc, accumulate,
                    static_cast<const char*>(prefetch), prefetch_lines);
}

void pack_a_f32(const float* x, int64_t lda, int rows, int64_t k0, int64_t kc_valid, int64_t kc_padded,
                int64_t a_stride, void* dst) {
  pack_a_f32_rows(x, lda, rows, kMr, false, k0, kc_valid, kc_padded, a_stride, static_cast<float*>(dst));
}
void pack_a_bf16_rounded(const float* x, int64_t lda, int rows, int64_t k0, int64_t kc_valid, int64_t kc_padded,
                         int64_t a_stride, void* dst) {
  pack_a_f32_rows(x, lda, rows, kMr, true, k0, kc_valid, kc_padded, a_stride, static_cast<float*>(dst));
}

__m256 activation_avx2(__m256 v, Activation act) {
  const __m256 one = _mm256_set1_ps(1.f);
  if (act == Activation::GeluTanh) {
    const __m256 inner = _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), _mm256_mul_ps(v, v), one);
    const __m256 minus_2u = _mm256_mul_ps(_mm256_mul_ps(v, inner), _mm256_set1_ps(-2.f * 0.7978845608028654f));
    return _mm256_div_ps(v, _mm256_add_ps(one, detail::exp_avx2(minus_2u)));
  }
  if (act == Activation::Silu)
    return _mm256_div_ps(v, _mm256_add_ps(one, detail::exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), v))));
  return v;
}

void epilogue_row(const float* c, float* y, int64_t n, int64_t row, int64_t j0, const Epilogue& e) {
  const float* bias = e.bias ? e.bias + j0 : nullptr;
  const float* gate = e.gate ? e.gate + gate_row_offset(e, row) + j0 : nullptr;
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 v = _mm256_loadu_ps(c + j);
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
    v = activation_avx2(v, e.activation);
    if (gate) v = _mm256_fmadd_ps(_mm256_loadu_ps(gate + j), v, _mm256_loadu_ps(y + j));
    _mm256_storeu_ps(y + j, v);
  }
  if (j < n) {
    // Tail through a padded buffer so the vector path (and its rounding) is the same for every column.
    alignas(32) float cv[8] = {}, bv[8] = {}, gv[8] = {}, yv[8] = {};
    const int64_t t = n - j;
    for (int64_t q = 0; q < t; ++q) {
      cv[q] = c[j + q];
      if (bias) bv[q] = bias[j + q];
      if (gate) gv[q] = gate[j + q], yv[q] = y[j + q];
    }
    __m256 v = _mm256_add_ps(_mm256_load_ps(cv), _mm256_load_ps(bv));
    v = activation_avx2(v, e.activation);
    if (gate) v = _mm256_fmadd_ps(_mm256_load_ps(gv), v, _mm256_load_ps(yv));
    _mm256_store_ps(yv, v);
    for (int64_t q = 0; q < t; ++q) y[j + q] = yv[q];
  }
}

const MicroKernel kF32 = {Isa::Avx2, DType::F32, false, false, true, false, kMr, kNr, 1, 512,
                          compute, pack_a_f32, epilogue_row};
const MicroKernel kBf16 = {Isa::Avx2, DType::BF16, false, true, false, false, kMr, kNr, 1, 512,
                           compute, pack_a_bf16_rounded, epilogue_row};

}  // namespace

const MicroKernel* avx2_kernel(DType dtype) { return dtype == DType::BF16 ? &kBf16 : &kF32; }

}  // namespace ditto::cpu::gemm

#else
namespace ditto::cpu::gemm {
const MicroKernel* avx2_kernel(DType) { return nullptr; }
}  // namespace ditto::cpu::gemm
#endif

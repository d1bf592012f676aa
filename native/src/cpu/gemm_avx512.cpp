// AVX-512 f32 GEMM micro-kernel: a 12×32 register tile (24 zmm accumulators; each k step broadcasts 12
// A values and loads two 16-wide B vectors), with row-count specialisations 1..12 for the last strip so
// M = 1 or 7 costs no padded rows. Serves F32 layers and, on machines without AVX512-BF16, BF16 layers as
// f32 math over bf16-rounded operands. Driver and layouts: gemm.cpp / gemm_kernels.h.
#include "cpu/gemm_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <array>
#include <utility>

#include "cpu/gemm_epilogue_avx512.h"

namespace ditto::cpu::gemm {
namespace {

constexpr int kMr = 12, kNr = 32;

template <int ROWS>
void compute_rows(int64_t kc, const float* a, int64_t a_stride, const float* b, float* c, int64_t ldc,
                  bool accumulate, const char* prefetch, int64_t prefetch_lines) {
  __m512 acc0[ROWS], acc1[ROWS];
  for (int i = 0; i < ROWS; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < kc; ++kk) {
    if (kk < prefetch_lines) _mm_prefetch(prefetch + kk * 64, _MM_HINT_T1);
    const __m512 b0 = _mm512_loadu_ps(b + kk * kNr), b1 = _mm512_loadu_ps(b + kk * kNr + 16);
    for (int i = 0; i < ROWS; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i * a_stride + kk]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
  }
  for (int i = 0; i < ROWS; ++i) {
    float* ci = c + i * ldc;
    if (accumulate) {
      acc0[i] = _mm512_add_ps(acc0[i], _mm512_loadu_ps(ci));
      acc1[i] = _mm512_add_ps(acc1[i], _mm512_loadu_ps(ci + 16));
    }
    _mm512_storeu_ps(ci, acc0[i]);
    _mm512_storeu_ps(ci + 16, acc1[i]);
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

const MicroKernel kF32 = {Isa::Avx512, DType::F32, false, false, true, false, kMr, kNr, 1, 512,
                          compute, pack_a_f32, epilogue_row_avx512};
const MicroKernel kBf16 = {Isa::Avx512, DType::BF16, false, true, false, false, kMr, kNr, 1, 512,
                           compute, pack_a_bf16_rounded, epilogue_row_avx512};

}  // namespace

const MicroKernel* avx512_kernel(DType dtype) { return dtype == DType::BF16 ? &kBf16 : &kF32; }

}  // namespace ditto::cpu::gemm

#else
namespace ditto::cpu::gemm {
const MicroKernel* avx512_kernel(DType) { return nullptr; }
}  // namespace ditto::cpu::gemm
#endif

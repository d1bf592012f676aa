// AVX512-BF16 GEMM micro-kernel for BF16 layers: vdpbf16ps (Intel SDM: VDPBF16PS) multiplies bf16 pairs
// and accumulates in f32, so each instruction does 16 columns × 2 k-steps. 12×32 register tile (24 zmm
// accumulators; per k-pair 12 broadcast A pairs and two B vectors of 16 pairs), row-count specialisations
// 1..12 for the last strip. Weights are packed as bf16 pairs at load time; activations are converted to
// bf16 (round-to-nearest-even, vcvtne2ps2bf16) while packing A into a k-pair-major strip (see pack_a). Driver and layouts: gemm.cpp / gemm_kernels.h.
#include "cpu/gemm_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <array>
#include <algorithm>
#include <cstring>
#include <utility>

#include "cpu/gemm_epilogue_avx512.h"

namespace ditto::cpu::gemm {
namespace {

constexpr int kMr = 12, kNr = 32;

template <int ROWS>
void compute_rows(int64_t kc, const uint32_t* a, const uint16_t* b, float* c, int64_t ldc, bool accumulate,
                  const char* prefetch, int64_t prefetch_lines) {
  __m512 acc0[ROWS], acc1[ROWS];
  for (int i = 0; i < ROWS; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  const int64_t pairs = kc / 2;
  for (int64_t kp = 0; kp < pairs; ++kp) {
    if (kp < prefetch_lines) _mm_prefetch(prefetch + kp * 64, _MM_HINT_T1);
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + kp * 2 * kNr);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + kp * 2 * kNr + 32);
    const uint32_t* ak = a + kp * kMr;
    for (int i = 0; i < ROWS; ++i) {
      const __m512bh ai = (__m512bh)_mm512_set1_epi32(static_cast<int>(ak[i]));
      acc0[i] = _mm512_dpbf16_ps(acc0[i], ai, b0);
      acc1[i] = _mm512_dpbf16_ps(acc1[i], ai, b1);
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

using RowsFn = void (*)(int64_t, const uint32_t*, const uint16_t*, float*, int64_t, bool, const char*, int64_t);
template <int... R>
constexpr auto make_table(std::integer_sequence<int, R...>) {
  return std::array<RowsFn, sizeof...(R)>{compute_rows<R + 1>...};
}
constexpr auto kByRows = make_table(std::make_integer_sequence<int, kMr>{});

// The strip is in the pair layout below, so a_stride is unused.
void compute(int64_t kc, const void* a, int64_t /*a_stride*/, const void* b, float* c, int64_t ldc, bool accumulate,
             int rows, const void* prefetch, int64_t prefetch_lines) {
  kByRows[rows - 1](kc, static_cast<const uint32_t*>(a), static_cast<const uint16_t*>(b), c, ldc, accumulate,
                    static_cast<const char*>(prefetch), prefetch_lines);
}

// This kernel's A strip is not row-major but [k/2][kMr] bf16 pairs, so that the kMr broadcasts of one k-pair
// come from one pointer (row pointers would exhaust the general registers and make GCC spill accumulators).
// Each row converts 32 k-values per step into 16 pair words (vectorised), then a 16×kMr transpose through a
// small buffer scatters them into the strip. It fits the driver's slot (kMr × a_stride bf16, a_stride ≥ kc).
void pack_a(const float* x, int64_t lda, int rows, int64_t k0, int64_t kc_valid, int64_t kc_padded,
            int64_t /*a_stride*/, void* dst) {
  uint32_t* out = static_cast<uint32_t*>(dst);
  alignas(64) uint32_t tmp[kMr][16];
  for (int64_t kk = 0; kk < kc_padded; kk += 32) {
    const int64_t valid = std::max<int64_t>(0, std::min<int64_t>(32, kc_valid - kk));
    const __mmask16 lo = valid >= 16 ? __mmask16(0xffff) : __mmask16((1u << valid) - 1);
    const __mmask16 hi = valid >= 32 ? __mmask16(0xffff) : valid <= 16 ? __mmask16(0) : __mmask16((1u << (valid - 16)) - 1);
    for (int i = 0; i < kMr; ++i) {
      if (i < rows) {
        const float* src = x + i * lda + k0 + kk;
        const __m512 v0 = _mm512_maskz_loadu_ps(lo, src), v1 = _mm512_maskz_loadu_ps(hi, src + 16);
        _mm512_store_si512(tmp[i], (__m512i)_mm512_cvtne2ps_pbh(v1, v0));
      } else {
        _mm512_store_si512(tmp[i], _mm512_setzero_si512());
      }
    }
    const int64_t pairs = std::min<int64_t>(16, (kc_padded - kk) / 2);
    uint32_t* o = out + (kk / 2) * kMr;
    for (int64_t j = 0; j < pairs; ++j)
      for (int i = 0; i < kMr; ++i) o[j * kMr + i] = tmp[i][j];
  }
}

const MicroKernel kBf16 = {Isa::Avx512Bf16, DType::BF16, true, false, false, true, kMr, kNr, 2, 1024,
                           compute, pack_a, epilogue_row_avx512};

}  // namespace

const MicroKernel* avx512bf16_kernel() { return &kBf16; }

}  // namespace ditto::cpu::gemm

#else
namespace ditto::cpu::gemm {
const MicroKernel* avx512bf16_kernel() { return nullptr; }
}  // namespace ditto::cpu::gemm
#endif

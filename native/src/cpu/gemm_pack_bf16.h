// Internal, header-only: converts rows of f32 activations into a row-major bf16 A strip (round-to-nearest-
// even with vcvtne2ps2bf16, 32 values per step, masked at the K edge), shared by gemm_avx512bf16.cpp and
// gemm_amx.cpp (include only from those: it needs AVX512-BF16).
#pragma once
#include <immintrin.h>

#include <algorithm>

#include "cpu/gemm_kernels.h"

namespace ditto::cpu::gemm {

inline void pack_a_bf16_rows(const float* x, int64_t lda, int rows, int mr, int64_t k0, int64_t kc_valid,
                             int64_t kc_padded, int64_t a_stride, uint16_t* dst) {
  for (int i = 0; i < mr; ++i) {
    uint16_t* out = dst + i * a_stride;
    const float* src = x + i * lda + k0;
    const int64_t valid_row = i < rows ? kc_valid : 0;
    for (int64_t kk = 0; kk < kc_padded; kk += 32) {
      const int64_t valid = std::max<int64_t>(0, std::min<int64_t>(32, valid_row - kk));
      const __mmask16 lo = valid >= 16 ? __mmask16(0xffff) : __mmask16((1u << valid) - 1);
      const __mmask16 hi =
          valid >= 32 ? __mmask16(0xffff) : valid <= 16 ? __mmask16(0) : __mmask16((1u << (valid - 16)) - 1);
      const __m512i packed = valid == 0 ? _mm512_setzero_si512()
                                        : (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, src + kk + 16),
                                                                       _mm512_maskz_loadu_ps(lo, src + kk));
      const int64_t left = kc_padded - kk;  // even; store only inside this row's kc_padded columns
      const __mmask32 store = left >= 32 ? __mmask32(0xffffffffu) : __mmask32((1u << left) - 1);
      _mm512_mask_storeu_epi16(out + kk, store, packed);
    }
  }
}

}  // namespace ditto::cpu::gemm

// Portable GEMM micro-kernel: plain C++ over a 4×16 register tile that the compiler vectorises for the
// baseline target (SSE2 on x86-64, NEON elsewhere). Serves F32 layers, and BF16 layers as f32 math over
// bf16-rounded operands, on machines without AVX2. Driver and layouts: gemm.cpp / gemm_kernels.h.
#include "cpu/gemm_kernels.h"

namespace ditto::cpu::gemm {
namespace {

constexpr int kMr = 4, kNr = 16;

void compute_f32(int64_t kc, const void* a_rows, int64_t a_stride, const void* b_packed, float* c, int64_t ldc,
                 bool accumulate, int rows, const void*, int64_t) {
  const float* a = static_cast<const float*>(a_rows);
  const float* b = static_cast<const float*>(b_packed);
  float acc[kMr][kNr] = {};
  for (int64_t kk = 0; kk < kc; ++kk) {
    const float* bk = b + kk * kNr;
    for (int i = 0; i < kMr; ++i) {
      const float ai = i < rows ? a[i * a_stride + kk] : 0.f;
      for (int j = 0; j < kNr; ++j) acc[i][j] += ai * bk[j];
    }
  }
  for (int i = 0; i < rows; ++i) {
    float* ci = c + i * ldc;
    if (accumulate)
      for (int j = 0; j < kNr; ++j) ci[j] += acc[i][j];
    else
      for (int j = 0; j < kNr; ++j) ci[j] = acc[i][j];
  }
}

void pack_a_f32(const float* x, int64_t lda, int rows, int64_t k0, int64_t kc_valid, int64_t kc_padded,
                int64_t a_stride, void* dst) {
  pack_a_f32_rows(x, lda, rows, kMr, false, k0, kc_valid, kc_padded, a_stride, static_cast<float*>(dst));
}
void pack_a_bf16_rounded(const float* x, int64_t lda, int rows, int64_t k0, int64_t kc_valid, int64_t kc_padded,
                         int64_t a_stride, void* dst) {
  pack_a_f32_rows(x, lda, rows, kMr, true, k0, kc_valid, kc_padded, a_stride, static_cast<float*>(dst));
}

const MicroKernel kF32 = {Isa::Portable, DType::F32, false, false, true, false, kMr, kNr, 1, 256,
                          compute_f32, pack_a_f32, epilogue_row_scalar};
const MicroKernel kBf16 = {Isa::Portable, DType::BF16, false, true, false, false, kMr, kNr, 1, 256,
                           compute_f32, pack_a_bf16_rounded, epilogue_row_scalar};

}  // namespace

const MicroKernel* portable_kernel(DType dtype) { return dtype == DType::BF16 ? &kBf16 : &kF32; }

}  // namespace ditto::cpu::gemm

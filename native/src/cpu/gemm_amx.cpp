// AMX GEMM micro-kernel for BF16 layers (Intel SDM vol. 1 ch. 3 "Intel AMX"; TDPBF16PS). A 32×32 output
// tile is held in four 16×16 f32 accumulator tiles (tmm0..3); each 32-deep k step loads two A tiles
// (rows 0–15 and 16–31, 16×32 bf16, from the row-major A strip) and two B tiles (columns 0–15 and 16–31,
// 16 k-pairs × 16 columns, read from the shared bf16-pair panel with a 128-byte row stride) and issues
// four TDPBF16PS. K is padded to a multiple of 32 with zeros at pack time.
//
// UNTESTED ON THE DEVELOPMENT MACHINE (AMD Zen 4 has no AMX): it is selected only where
// cpu_features().amx_bf16 is set (CPUID + XCR0 + the Linux ARCH_REQ_XCOMP_PERM grant), and
// tests/test_gemm.cpp covers it automatically on such a machine. The tile configuration is loaded at
// the start of every micro-kernel call and released at its end, because it is per-thread state and calls
// from different pool threads interleave; the cost (~tens of cycles) is small against 32·32·kc MACs.
#include "cpu/gemm_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "cpu/gemm_epilogue_avx512.h"
#include "cpu/gemm_pack_bf16.h"

namespace ditto::cpu::gemm {
namespace {

constexpr int kMr = 32, kNr = 32, kKStep = 32;

struct alignas(64) TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

const TileConfig& tile_config() {
  static const TileConfig config = [] {
    TileConfig c;
    std::memset(&c, 0, sizeof(c));
    c.palette_id = 1;
    for (int t = 0; t < 8; ++t) {  // tmm0-3: C (16×16 f32), tmm4-5: A (16×32 bf16), tmm6-7: B (16×16 pairs)
      c.rows[t] = 16;
      c.colsb[t] = 64;
    }
    return c;
  }();
  return config;
}

void compute(int64_t kc, const void* a_strip, int64_t a_stride_elems, const void* b_sliver, float* c, int64_t ldc,
             bool accumulate, int rows, const void* prefetch, int64_t prefetch_lines) {
  // Tile loads of B are large and sequential; the hardware prefetcher covers them, `prefetch` is unused.
  _tile_loadconfig(&tile_config());
  const char* a = static_cast<const char*>(a_strip);
  const char* b = static_cast<const char*>(b_sliver);
  const int64_t c_stride = ldc * static_cast<int64_t>(sizeof(float));
  float* c_lo = c;             // rows 0-15
  float* c_hi = c + 16 * ldc;  // rows 16-31 (the driver's tile buffer always has mr rows)
  if (accumulate) {
    _tile_loadd(0, c_lo, c_stride);
    _tile_loadd(1, c_lo + 16, c_stride);
    _tile_loadd(2, c_hi, c_stride);
    _tile_loadd(3, c_hi + 16, c_stride);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  const int64_t a_stride = a_stride_elems * 2;  // bytes per A row (row-major bf16 strip)
  const int64_t b_stride = kNr * 2 * 2;      // bytes per k-pair row of the panel (32 columns × 2 × bf16)
  for (int64_t k0 = 0; k0 < kc; k0 += kKStep) {
    _tile_loadd(4, a + k0 * 2, a_stride);
    _tile_loadd(5, a + 16 * a_stride + k0 * 2, a_stride);
    const char* bk = b + (k0 / 2) * b_stride;
    _tile_loadd(6, bk, b_stride);
    _tile_loadd(7, bk + 64, b_stride);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c_lo, c_stride);
  _tile_stored(1, c_lo + 16, c_stride);
  _tile_stored(2, c_hi, c_stride);
  _tile_stored(3, c_hi + 16, c_stride);
  // Leave no tile state behind in pool threads (it enlarges their saved context and keeps AMX powered).
  _tile_release();
}

// A strip for AMX: kMr rows × kc_padded bf16, row-major (the A-tile layout), zero-padded (rows past m too:
// the tiles always load 32 rows).
void pack_a(const float* x, int64_t lda, int rows, int64_t k0, int64_t kc_valid, int64_t kc_padded, int64_t a_stride,
            void* dst) {
  pack_a_bf16_rows(x, lda, rows, kMr, k0, kc_valid, kc_padded, a_stride, static_cast<uint16_t*>(dst));
}

const MicroKernel kAmx = {Isa::Amx, DType::BF16, true, false, false, true, kMr, kNr, kKStep, 1024,
                          compute, pack_a, epilogue_row_avx512};

}  // namespace

const MicroKernel* amx_kernel() { return &kAmx; }

}  // namespace ditto::cpu::gemm

#else
namespace ditto::cpu::gemm {
const MicroKernel* amx_kernel() { return nullptr; }
}  // namespace ditto::cpu::gemm
#endif

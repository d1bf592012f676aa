// Internal contract between the GEMM driver (gemm.cpp) and the per-ISA micro-kernels (gemm_*.cpp).
// The driver follows the BLIS loop structure (Van Zee & van de Geijn, "BLIS: A Framework for Rapidly
// Instantiating BLAS Functionality", 2015): B (the weight) is packed once into NR-wide column panels,
// A is packed per MC×KC block into MR-row strips, and an MR×NR register-blocked micro-kernel accumulates
// one output tile into a small per-thread f32 buffer. After the last K block the epilogue runs on that
// tile while it is still in L1 and writes y.
//
// Packed B layouts (one panel = NR output columns, K padded to k_align with zeros):
//   f32:        panel[k][NR]                    (float)
//   bf16 pairs: panel[k/2][NR][2]               (uint16; the VNNI layout of vdpbf16ps and AMX TDPBF16PS)
// A strips (MR rows of one K block, k past K zero) are in the kernel's own layout inside a slot of
// MR × a_stride elements: f32 kernels use row-major rows (row stride a_stride) and read x in place
// (a_stride = lda) unless lda is a multiple of 4 KiB (then 12 rows would share one L1 set), so they need
// no packing pass at all; AMX uses row-major bf16 rows (its A-tile layout); the AVX512-BF16 kernel uses
// k-pair-major [k/2][MR][2] bf16, so the MR broadcasts of one k-pair come from one pointer (with MR row
// pointers GCC spills the accumulators). The vector kernels broadcast A[i, k] (or the bf16 pair
// A[i, k..k+1]); AMX loads tiles.
#pragma once
#include <cstddef>
#include <cstdint>

#include "ditto/cpu/gemm.h"

namespace ditto::cpu {

// Lets the packer fill PackedWeight's private fields (declared a friend in gemm.h).
struct PackedWeightAccess {
  static void set(PackedWeight& w, int64_t n, int64_t k, DType dtype, Isa isa, size_t bytes,
                  std::shared_ptr<void> data) {
    w.n_ = n;
    w.k_ = k;
    w.dtype_ = dtype;
    w.isa_ = isa;
    w.bytes_ = bytes;
    w.data_ = std::move(data);
  }
};

namespace gemm {

struct MicroKernel {
  Isa isa;
  DType dtype;            // the layer dtype this kernel serves
  bool bf16_operands;     // B packed as bf16 pairs (else f32)
  bool round_to_bf16;     // f32 math over bf16-rounded operands (BF16 layers without bf16 hardware)
  bool a_in_place;        // A may be read straight from x (f32 operands, no rounding)
  bool a_bf16;            // A strips hold bf16 (else f32)
  int mr, nr;
  int k_align;            // K is padded to a multiple of this
  int kc;                 // K block size (multiple of k_align)
  // c[i*ldc + j] (=, or += when accumulate) Σ_k a[i,k]·b[k,j] for i < rows (≤ mr), j < nr, over kc
  // (a multiple of k_align) from one packed A strip and one packed B sliver (panel + k0 offset).
  // Kernels may store all mr rows (the driver's tile buffer has them). `prefetch` names prefetch_lines
  // 64-byte lines of the next B sliver to pull into L2 while computing (nullptr: none): when M is small
  // each weight element is used only M times, and without this the first strip of every panel stalls on
  // DRAM while the later strips find the sliver in cache.
  // `a` is row 0 of the strip at column k0, rows a_stride elements apart.
  void (*compute)(int64_t kc, const void* a, int64_t a_stride, const void* b, float* c, int64_t ldc,
                  bool accumulate, int rows, const void* prefetch, int64_t prefetch_lines);
  // Writes one row-major A strip (row stride a_stride elements): rows [0, rows) of x (row stride lda),
  // columns [k0, k0 + kc_valid), zero-padded to mr rows and kc_padded columns.
  void (*pack_a)(const float* x, int64_t lda, int rows, int64_t k0, int64_t kc_valid, int64_t kc_padded,
                 int64_t a_stride, void* dst);
  // y[0..n) = epilogue(c[0..n)) for output row `row`, columns [j0, j0+n).
  void (*epilogue_row)(const float* c, float* y, int64_t n, int64_t row, int64_t j0, const Epilogue& e);
};

// Each returns nullptr when the ISA's file was not compiled for this target.
const MicroKernel* portable_kernel(DType dtype);
const MicroKernel* avx2_kernel(DType dtype);
const MicroKernel* avx512_kernel(DType dtype);
const MicroKernel* avx512bf16_kernel();
const MicroKernel* amx_kernel();

// The kernel a PackedWeight was packed for.
const MicroKernel* kernel_for(Isa isa, DType dtype);

// Shared scalar pieces (gemm.cpp).
void pack_a_f32_rows(const float* x, int64_t lda, int rows, int mr, bool round_bf16, int64_t k0, int64_t kc_valid,
                     int64_t kc_padded, int64_t a_stride, float* dst);
void epilogue_row_scalar(const float* c, float* y, int64_t n, int64_t row, int64_t j0, const Epilogue& e);

// Epilogue helpers: GELU-tanh is evaluated as x·σ(2u), u = √(2/π)(x + 0.044715x³), which equals
// 0.5x(1 + tanh u) exactly in real arithmetic and avoids the cancellation of 1 + tanh u for x ≪ 0.
inline int64_t gate_row_offset(const Epilogue& e, int64_t row) {
  const int64_t group = e.gate_row_group > 0 ? e.gate_row_group : 1;
  return (row / group) * e.gate_stride;
}

}  // namespace gemm
}  // namespace ditto::cpu

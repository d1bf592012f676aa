// GEMM for Linear layers: y[M,N] = epilogue(x[M,K] · Wᵀ), W in PyTorch Linear layout [N,K].
// Weights are packed once at load time (PackedWeight) for the ISA chosen then: f32 (portable, AVX2+FMA,
// AVX-512) or bf16 (AVX512-BF16 dot products, AMX tiles). Activations stay f32 in memory; bf16 paths
// convert them while packing A. The epilogue is fused into the store of each output tile.
#pragma once
#include <cstdint>
#include <memory>

#include "ditto/cpu_features.h"
#include "ditto/status.h"
#include "ditto/tensor.h"
#include "ditto/thread_pool.h"

namespace ditto::cpu {

enum class Activation { None, GeluTanh, Silu };

// Applied to each output element v = (x·Wᵀ)[i,j], in this order:
//   v += bias[j];  v = act(v);
//   gated residual (gate != nullptr):  y[i,j] = y[i,j] + gate[(i / gate_row_group) * gate_stride + j] * v
//   otherwise:                          y[i,j] = v
// The gated form is DiT's `h + gate ⊙ block(h)` with one gate row per sample (gate_row_group = tokens).
struct Epilogue {
  const float* bias = nullptr;
  Activation activation = Activation::None;
  const float* gate = nullptr;
  int64_t gate_row_group = 1;
  int64_t gate_stride = 0;
};

// Opaque packed weight. The layout belongs to the ISA path that packed it.
class PackedWeight {
 public:
  PackedWeight() = default;
  // w: [n, k] row-major f32. dtype: F32 or BF16 (the compute dtype of this layer).
  // isa: the path to pack for; clamped to what the machine supports and what the dtype allows
  // (BF16 needs Avx512Bf16 or Amx, otherwise it falls back to an f32 path over bf16-rounded weights).
  static Result<PackedWeight> pack(const float* w, int64_t n, int64_t k, DType dtype, Isa isa = best_isa());

  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  DType dtype() const { return dtype_; }
  Isa isa() const { return isa_; }
  bool empty() const { return data_ == nullptr; }
  size_t bytes() const { return bytes_; }
  const void* data() const { return data_.get(); }

 private:
  friend struct PackedWeightAccess;
  int64_t n_ = 0, k_ = 0;
  DType dtype_ = DType::F32;
  Isa isa_ = Isa::Portable;
  size_t bytes_ = 0;
  std::shared_ptr<void> data_;
};

// y (row stride ldy) = epilogue(x (row stride lda) · Wᵀ). Parallel over output tiles.
void linear(ThreadPool& pool, const float* x, int64_t m, int64_t lda, const PackedWeight& w, float* y, int64_t ldy,
            const Epilogue& epilogue = {});

// Naive triple loop in double accumulation; the oracle every path is tested against.
void linear_reference(const float* x, int64_t m, int64_t k, int64_t lda, const float* w, int64_t n, float* y,
                      int64_t ldy, const Epilogue& epilogue = {});

}  // namespace ditto::cpu

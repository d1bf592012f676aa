// What every CPU model family shares around its own numerics (one mechanism, not a copy per family):
//   * CpuModel: the Denoiser / BackboneKernels boilerplate (thread pool, op table, description, byte counts) that
//     PixArt (pixart.cpp), Wan2.1 (wan.cpp) and the MMDiT families (mmdit_blocks.h CpuJointModel: SD3, Flux) build
//     on; a family implements validate / prelude / block / final / emit_block / hidden / macs.
//   * begin_load: the checks and page release every family's load does before it reads its weights.
//   * FamilyKeys + detect / resolve_layout: key-layout detection (text_family.h detect_layout) with the config's
//     "layout" override, the body of every text family's FamilyLoader.
//   * The attention argument blocks of the DiT-style blocks (Peebles & Xie 2023; PixArt-α, Wan2.1): self-attention
//     read in place from a fused [rows, 3D] q|k|v buffer, and cross-attention of [rows, D] queries against a
//     [rows, 2D] k|v buffer; and the gated-residual GEMM epilogue (x += gate · out).
// The cross-attention DiTs (PixArt-α, Wan2.1) build on this in text_model.h.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ditto/cpu/attention.h"
#include "ditto/cpu/gemm.h"
#include "ditto/executor.h"
#include "ditto/model.h"
#include "ditto/safetensors.h"
#include "ditto/thread_pool.h"
#include "models/text_family.h"
#include "runtime/cpu_ops.h"

namespace ditto::family {

// The compute dtype check ("<title> compute dtype must be F32 or BF16, got …"), the optional finite-weights scan,
// and the release of the checkpoint's mapped pages before its tensors are read one by one.
Status begin_load(const SafetensorsFile& file, const LoadOptions& options, const std::string& title);

// A text family's key layouts: the title its errors use, the anchor tensors, the block prefixes, the layouts.
struct FamilyKeys {
  std::string title;                         // "PixArt", "Wan2.1"
  std::vector<std::string> anchors, block_prefixes;
  std::vector<KeyLayout> (*layouts)() = nullptr;
};
// FamilyLoader::detect: Ok when a layout of the family explains the checkpoint.
Status detect(const SafetensorsFile& file, const FamilyKeys& keys);
// The name of the layout the checkpoint uses (the config's "layout" when given).
Result<std::string> resolve_layout(const SafetensorsFile& file, const ConfigKwargs& kw, const FamilyKeys& keys);

// An f32 [rows, cols] workspace buffer.
Result<Tensor> f32_buffer(int64_t rows, int64_t cols);

// Self-attention over B samples of T tokens, q|k|v read in place from the fused [B*T, 3D] buffer, out [B*T, D].
cpu::AttentionArgs fused_self_attention(int64_t B, int64_t T, int64_t heads, int64_t head_dim, const float* qkv,
                                        float* out, float scale);
// Cross-attention of q [B*T, D] against k|v [B*L, 2D], out [B*T, D] (no key bias).
cpu::AttentionArgs cross_attention(int64_t B, int64_t T, int64_t L, int64_t heads, int64_t head_dim, const float* q,
                                   const float* kv, float* out, float scale);
// x += gate · y: the gate row of sample r / row_group, gate_stride floats apart.
cpu::Epilogue gated(const float* gate, int64_t row_group, int64_t gate_stride);

// The Denoiser boilerplate of a CPU family.
class CpuModel : public Denoiser, public BackboneKernels {
 public:
  const ModelInfo& info() const override { return info_; }
  const Backbone& backbone() const override { return backbone_; }
  std::string device() const override { return "cpu"; }
  int threads() const override { return pool_->size(); }
  uint64_t memory_bytes() const override { return weight_bytes_ + ws_bytes_.load(std::memory_order_relaxed); }
  BackboneKernels& kernels() override { return *this; }
  BackendOps& ops() override { return *ops_; }

 protected:
  explicit CpuModel(int threads);
  // A borrowed f32 view for a capture sink (nothing when o is null).
  static void emit(const IntermediateSink* o, std::string_view name, const float* p, Shape shape);

  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<CpuOps> ops_;
  ModelInfo info_;
  Backbone backbone_;
  uint64_t weight_bytes_ = 0;
  std::atomic<uint64_t> ws_bytes_{0};
};

}  // namespace ditto::family

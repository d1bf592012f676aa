// DiT forward on the GPU (Peebles & Xie 2023; facebookresearch/DiT models.py and diffusers
// DiTTransformer2DModel), assembled from the CUDA kernels of ops.h: the DiT family's BackboneKernels on the
// GPU. The block loop (block actions, plans, sessions) is the executor's (native/src/runtime/executor.cpp),
// the same one the CPU DitModel (native/src/models/dit.cpp) runs, so both checkpoint layouts, the capture
// names, the block actions and the input validation are the same:
//   prelude  patchify -> patch Linear -> + pos table -> h (f32, [B*T, D]);  t -> 256-d sinusoid (on the host into pinned staging,
//            ditto::cpu::timestep_embedding, then uploaded: it is B x 256 numbers) -> Linear, SiLU, Linear;
//            + label row -> c per conditioning group; one adaLN GEMM per group on SiLU(c).
//   block    LN+modulate -> qkv Linear -> attention read in place from the qkv buffer -> proj Linear whose
//            epilogue adds gate_msa * (.) into h;  LN+modulate -> fc1 (+GELU-tanh) -> fc2 (+ gate_mlp * (.)).
//   final    LN+modulate (shift, scale) -> Linear -> unpatchify.
// Compute dtype F32: every Linear is gemm_f32 and attention attention_f32 (the GPU reference path; the golden
// cases' f32 tolerances apply). BF16: weights stored in bf16, every Linear on tensor cores (gemm_bf16) with
// bf16 activations written by the producing kernel's epilogue, attention_bf16; h, the LayerNorm statistics,
// the conditioning vectors and all accumulations stay f32 — the same choice as the CPU engine's BF16 mode.
//
// Weights are read by name from the safetensors file through the CPU engine's reader and config parser
// (parse_dit_config, detect_layout), with the same name map and conditioning-group rule as
// native/src/models/dit_weights.cpp. The golden test links it directly (library ditto_cuda_dit); the addon reaches
// it through libditto_cuda.so's ABI v2 load_model (backend.cpp, docs/cuda.md). Outputs live where x lives: a
// device-tensor x gives a device-tensor output (no host copy), a host x a host output.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ditto/dit.h"
#include "ditto/model.h"
#include "ditto/status.h"
#include "ditto/tensor.h"

namespace ditto::cuda {

struct CudaDitOptions {
  DType dtype = DType::F32;  // F32 (reference kernels) or BF16 (tensor cores)
  int device = 0;            // CUDA ordinal
};

class CudaDit final : public Denoiser {
 public:
  // path: a model folder or a .safetensors file (the config beside it), as DitModel::load.
  static Result<std::unique_ptr<CudaDit>> load(const std::string& path, const CudaDitOptions& options);
  ~CudaDit() override;

  const DitConfig& config() const;
  DType dtype() const;
  size_t weight_bytes() const;  // device memory held by the weights

  const ModelInfo& info() const override;
  const Backbone& backbone() const override;
  std::string device() const override;
  int threads() const override { return 1; }
  // Device memory held: the weights, the activation workspace (sized by the largest batch run so far) and a
  // recomputed pos table, as DitModel counts weights + workspace; a session's cache slots are its slotBytes.
  uint64_t memory_bytes() const override;
  BackboneKernels& kernels() override;
  std::shared_ptr<BackendOps> tensor_ops() override;  // on the model's stream, for its device tensors

  // Same contract as DitModel::forward: x [B, in_channels, H, W] f32 on the host, t [B], y [B]; returns
  // [B, out_channels, H, W] on the host. Captured intermediates are downloaded (only when a sink is set).
  Result<Tensor> forward(const Tensor& x, const std::vector<float>& t, const std::vector<int64_t>& y,
                         const ForwardOptions& options = {});
  // Official DiT forward_with_cfg (see DitModel::forward_with_cfg); the guidance mix runs on the host.
  Result<Tensor> forward_with_cfg(const Tensor& x, const std::vector<float>& t, const std::vector<int64_t>& y,
                                  float cfg_scale, int64_t guided_channels, const ForwardOptions& options = {});
  // Milliseconds of one whole forward (uploads, the executor's block loop, the output download) measured
  // with CUDA events, averaged over `iters` after one warm-up; for the golden test's timing line.
  Result<double> time_forward_ms(const Tensor& x, const std::vector<float>& t, const std::vector<int64_t>& y,
                                 int iters);

 private:
  struct Impl;
  explicit CudaDit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ditto::cuda

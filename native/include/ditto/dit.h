// DiT family (Peebles & Xie 2023): class-conditional adaLN-Zero transformer over image patches.
// Two checkpoint layouts, detected from tensor names (shared/golden/README.md explains the differences):
//   official  facebookresearch/DiT state_dict (x_embedder.proj, t_embedder.mlp, y_embedder, blocks.i.*,
//             final_layer.*, pos_embed stored) — timestep freq shift 0, every LayerNorm eps 1e-6.
//   diffusers DiTTransformer2DModel (pos_embed.proj, transformer_blocks.i.norm1.emb.*, attn1.to_q/k/v, ff.net,
//             proj_out_1/2) — per-block embedders, freq shift 1, FF norm eps 1e-5, pos table computed.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ditto/model.h"
#include "ditto/safetensors.h"
#include "ditto/status.h"
#include "ditto/tensor.h"
#include "ditto/thread_pool.h"

namespace ditto {

enum class DitLayout { Official, Diffusers };

struct DitConfig {
  DitLayout layout = DitLayout::Official;
  int64_t input_size = 32;     // H = W of the input (sample_size for diffusers)
  int64_t patch_size = 2;
  int64_t in_channels = 4;
  int64_t out_channels = 8;    // in_channels * (learn_sigma ? 2 : 1) for official
  int64_t hidden_size = 1152;
  int64_t depth = 28;
  int64_t num_heads = 16;
  double mlp_ratio = 4.0;
  int64_t num_classes = 1000;  // the null class id is num_classes
  bool learn_sigma = true;
  float freq_shift = 0.f;      // timestep embedding downscale_freq_shift (diffusers: 1)
  float norm_eps = 1e-6f;      // norm1 / norm2 / final
  float ff_norm_eps = 1e-6f;   // diffusers norm3: 1e-5
  std::string config_path;     // the JSON the architecture came from
  std::string config_json;     // its constructor kwargs, re-serialised (model.config in JS)
};

// Parses the architecture from the JSON beside the weights: a golden case's config.json
// (`constructor_kwargs`, official or diffusers names) or the glyph fixture's dit.json (`kwargs`).
// The layout is decided by the tensor names in `weights`; a config that contradicts them is kModelLoad.
Result<DitConfig> parse_dit_config(const std::string& json_path, const SafetensorsFile& weights);

// The DiT family on the CPU: a Denoiser whose kernels are the fused CPU blocks of dit.cpp; the block loop is
// the executor's. load_model() finds it through the registry; these entry points load it directly.
class DitModel final : public Denoiser {
 public:
  // path: a model folder or a .safetensors file; the JSON config is found beside it.
  static Result<std::unique_ptr<DitModel>> load(const std::string& path, const LoadOptions& options);
  static Result<std::unique_ptr<DitModel>> load(const std::string& weights_path, const DitConfig& config,
                                                const LoadOptions& options);
  static Result<std::unique_ptr<DitModel>> load(const SafetensorsFile& weights, const DitConfig& config,
                                                const LoadOptions& options);
  ~DitModel() override;

  const DitConfig& config() const;
  ThreadPool& pool();
  MacCount macs_per_sample() const;  // the reference's split (blocks incl. their adaLN)

  const ModelInfo& info() const override;
  const Backbone& backbone() const override;
  std::string device() const override { return "cpu"; }
  int threads() const override;
  BackboneKernels& kernels() override;
  // Native bytes this model holds: packed weights and tables, plus the activation workspace of the largest batch
  // run so far. Safe to call from any thread, also while a forward runs (the binding reports it to V8).
  uint64_t memory_bytes() const override;

  // x [B, in_channels, H, W] f32; t [B] (the network's own timestep input, float); y [B] in [0, num_classes].
  // Returns [B, out_channels, H, W]. Intermediates (when options.capture) use the layout's module names.
  Result<Tensor> forward(const Tensor& x, const std::vector<float>& t, const std::vector<int64_t>& y,
                         const ForwardOptions& options = {});

  // Official DiT forward_with_cfg: batch 2N, uses x[:N] twice, guidance on the first `guided_channels`
  // channels (official: 3), channels beyond are the raw per-half outputs.
  Result<Tensor> forward_with_cfg(const Tensor& x, const std::vector<float>& t, const std::vector<int64_t>& y,
                                  float cfg_scale, int64_t guided_channels, const ForwardOptions& options = {});

 private:
  struct Impl;
  explicit DitModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ditto

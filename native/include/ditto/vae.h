// AutoencoderKL: the KL-regularised image autoencoder of latent diffusion (Rombach et al. 2022, "High-Resolution
// Image Synthesis with Latent Diffusion Models"), as diffusers.AutoencoderKL runs it (SD 1.x/2.x, SDXL, SD3, Flux,
// PixArt VAEs). encode() returns the posterior's mean and clamped log-variance, decode() the image; neither
// applies scaling_factor / shift_factor (pipelines do: z = (mean - shift) * scale, decode(z / scale + shift)).
// Not a Denoiser: its own class, binding and TS loadVae(). Layouts: diffusers names (incl. the older
// query/key/value/proj_attn attention names) and the original latent-diffusion names (Flux's ae.safetensors);
// 3-D video VAEs (Wan's AutoencoderKLWan) are refused with kUnsupportedModel.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ditto/model.h"
#include "ditto/status.h"
#include "ditto/tensor.h"

namespace ditto {

struct VaeConfig {
  int64_t in_channels = 3, out_channels = 3, latent_channels = 4;
  std::vector<int64_t> block_out_channels;  // one per resolution level, encoder order
  int64_t layers_per_block = 1;             // resnets per encoder block (decoder: +1)
  int64_t norm_num_groups = 32;
  float norm_eps = 1e-6f;
  double scaling_factor = 0.18215;
  double shift_factor = 0;                  // null in the config = 0
  bool use_quant_conv = true, use_post_quant_conv = true, mid_block_add_attention = true;
  std::string layout;                       // "diffusers" or "ldm" (original latent-diffusion names)
  // Spatial factor between image and latent: 2^(levels - 1).
  int64_t downscale() const { return int64_t{1} << (block_out_channels.empty() ? 0 : block_out_channels.size() - 1); }
};

struct VaeLoadOptions {
  int threads = 0;           // 0 = machine default
  DType dtype = DType::F32;  // compute dtype of the convolutions' GEMMs (F32 or BF16)
  bool check_finite = true;  // reject NaN/Inf weights
};

struct VaeRunOptions {
  const std::atomic<bool>* abort = nullptr;  // checked between blocks -> kAborted
  // Named intermediates as diffusers module paths ("encoder.down_blocks.0.out", "decoder.mid_block.out", ...),
  // channels-first [1, C, H, W], once per sample in batch order.
  IntermediateSink capture;
};

struct VaePosterior {
  Tensor mean;    // [B, latent_channels, h, w]
  Tensor logvar;  // [B, latent_channels, h, w], clamped to [-30, 20]
};

class AutoencoderKL {
 public:
  // `path`: a folder (config.json + model.safetensors, diffusion_pytorch_model.safetensors or the only
  // *.safetensors) or a .safetensors file with config.json beside it. The config is a diffusers
  // AutoencoderKL config.json or a golden case's (full_config / constructor_kwargs).
  static Result<std::unique_ptr<AutoencoderKL>> load(const std::string& path, const VaeLoadOptions& options = {});
  ~AutoencoderKL();

  const VaeConfig& config() const;
  const std::string& weights_path() const;
  int threads() const;
  uint64_t memory_bytes() const;

  // image [B, in_channels, H, W] f32 in [-1, 1] -> posterior over [B, latent_channels, H', W'].
  Result<VaePosterior> encode(const Tensor& image, const VaeRunOptions& options = {});
  // latent [B, latent_channels, h, w] f32 (unscaled) -> image [B, out_channels, h*f, w*f].
  Result<Tensor> decode(const Tensor& latent, const VaeRunOptions& options = {});

  struct Impl;

 private:
  explicit AutoencoderKL(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ditto

// Internal: the AutoencoderKL's config parsing, weight layout and packed weights, shared by vae_kl_config.cpp
// (config + file resolution), vae_kl_weights.cpp (layouts, loading) and vae_kl.cpp (encode / decode).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ditto/cpu/conv2d.h"
#include "ditto/cpu/gemm.h"
#include "ditto/json.h"
#include "ditto/safetensors.h"
#include "ditto/thread_pool.h"
#include "ditto/vae.h"

namespace ditto::vae_detail {

struct VaeFiles {
  std::string weights, config;
};
Result<VaeFiles> resolve_vae_files(const std::string& path);
// The architecture from a diffusers config.json or a golden case config (full_config, else constructor_kwargs).
Result<VaeConfig> parse_vae_config(const JsonValue& root, const std::string& path);

struct GroupNormWeight {
  std::vector<float> weight, bias;
};
struct ResnetWeight {
  GroupNormWeight norm1, norm2;
  cpu::Conv2dWeight conv1, conv2;
  std::optional<cpu::Conv2dWeight> shortcut;  // 1x1, when the channel count changes
};
struct AttentionWeight {
  GroupNormWeight norm;
  cpu::PackedWeight qkv;  // to_q, to_k, to_v stacked: [3C, C]
  std::vector<float> qkv_bias;
  cpu::PackedWeight out;
  std::vector<float> out_bias;
};
struct MidBlockWeight {
  ResnetWeight first, second;
  std::optional<AttentionWeight> attention;
};
struct LevelWeight {
  std::vector<ResnetWeight> resnets;
  std::optional<cpu::Conv2dWeight> resample;  // encoder: downsampler; decoder: the conv after nearest 2x
};
struct CoderWeight {
  cpu::Conv2dWeight conv_in, conv_out;
  std::vector<LevelWeight> levels;  // execution order (decoder: up_blocks 0.. = deepest first)
  MidBlockWeight mid;
  GroupNormWeight norm_out;
};
struct VaeWeights {
  CoderWeight encoder, decoder;
  std::optional<cpu::Conv2dWeight> quant_conv, post_quant_conv;
  uint64_t bytes = 0;
};

// Detects the layout ("diffusers" / "ldm"), checks every tensor against the config and packs the weights.
// kUnsupportedModel names the tensors that match no AutoencoderKL layout; kModelLoad names a missing one or a
// shape that contradicts the config.
Result<VaeWeights> load_vae_weights(const SafetensorsFile& file, VaeConfig& config, DType dtype);

}  // namespace ditto::vae_detail

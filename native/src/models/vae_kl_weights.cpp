// AutoencoderKL weights (vae_kl_internal.h): the two key layouts, detected from tensor names, and packing.
//  * diffusers (AutoencoderKL.state_dict(); older checkpoints name the mid-block attention query / key / value /
//    proj_attn instead of to_q / to_k / to_v / to_out.0);
//  * ldm, the original latent-diffusion names (CompVis / Flux's ae.safetensors): encoder.down.{i}.block.{j},
//    nin_shortcut, downsample.conv, mid.block_1 / attn_1 / block_2, norm_out, and decoder.up.{i} numbered from the
//    shallowest level (diffusers' up_blocks run deepest first, so up_blocks.i = up.{levels-1-i}); the attention's
//    q / k / v / proj_out are 1x1 convolutions [C, C, 1, 1], read as Linear weights.
// Every tensor of the file must be used: a tensor no layout accounts for is kUnsupportedModel naming it.
#include <algorithm>
#include <set>

#include "models/vae_kl_internal.h"

namespace ditto::vae_detail {

namespace {

class Loader {
 public:
  Loader(const SafetensorsFile& file, const VaeConfig& config, DType dtype)
      : file_(file), ldm_(config.layout == "ldm"), levels_(static_cast<int64_t>(config.block_out_channels.size())),
        dtype_(dtype) {}

  // ---- names ----
  std::string level(const std::string& coder, int64_t i) const {
    const bool enc = coder == "encoder";
    if (ldm_) return coder + (enc ? ".down." + std::to_string(i) : ".up." + std::to_string(levels_ - 1 - i));
    return coder + (enc ? ".down_blocks." : ".up_blocks.") + std::to_string(i);
  }
  std::string resnet(const std::string& coder, int64_t i, int64_t j) const {
    return level(coder, i) + (ldm_ ? ".block." : ".resnets.") + std::to_string(j);
  }
  std::string resample(const std::string& coder, int64_t i) const {
    const bool enc = coder == "encoder";
    if (ldm_) return level(coder, i) + (enc ? ".downsample.conv" : ".upsample.conv");
    return level(coder, i) + (enc ? ".downsamplers.0.conv" : ".upsamplers.0.conv");
  }
  std::string mid_resnet(const std::string& coder, int k) const {
    return ldm_ ? coder + ".mid.block_" + std::to_string(k + 1) : coder + ".mid_block.resnets." + std::to_string(k);
  }
  std::string attention(const std::string& coder) const {
    return ldm_ ? coder + ".mid.attn_1" : coder + ".mid_block.attentions.0";
  }
  std::string norm_out(const std::string& coder) const { return coder + (ldm_ ? ".norm_out" : ".conv_norm_out"); }
  const char* shortcut() const { return ldm_ ? "nin_shortcut" : "conv_shortcut"; }

  bool has(const std::string& name) const { return file_.has(name); }

  // ---- tensors ----
  Result<std::vector<float>> vec(const std::string& name, const Shape& shape) {
    DITTO_ASSIGN_OR_RETURN(Tensor t, file_.get_f32(name, shape));
    used_.insert(name);
    return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
  }
  Result<GroupNormWeight> group_norm(const std::string& name, int64_t channels) {
    GroupNormWeight g;
    DITTO_ASSIGN_OR_RETURN(g.weight, vec(name + ".weight", {channels}));
    DITTO_ASSIGN_OR_RETURN(g.bias, vec(name + ".bias", {channels}));
    bytes_ += 8 * channels;
    return g;
  }
  Result<cpu::Conv2dWeight> conv(const std::string& name, int64_t out, int64_t in, int64_t k) {
    DITTO_ASSIGN_OR_RETURN(auto w, vec(name + ".weight", {out, in, k, k}));
    DITTO_ASSIGN_OR_RETURN(auto b, vec(name + ".bias", {out}));
    DITTO_ASSIGN_OR_RETURN(auto packed, cpu::pack_conv2d(w.data(), b.data(), out, in, k, k, dtype_));
    bytes_ += packed.packed.bytes() + 4 * out;
    return packed;
  }
  // A Linear [C, C] (diffusers) or 1x1 convolution [C, C, 1, 1] (ldm), under the first name present.
  Result<std::vector<float>> square(const std::vector<std::string>& names, int64_t c, std::string& found) {
    found = names.front();
    for (const auto& n : names)
      if (has(n + ".weight")) {
        found = n;
        break;
      }
    const SafetensorsEntry* e = file_.find(found + ".weight");
    const Shape shape = e && e->shape.size() == 4 ? Shape{c, c, 1, 1} : Shape{c, c};
    return vec(found + ".weight", shape);
  }

  Result<ResnetWeight> resnet_weight(const std::string& name, int64_t in, int64_t out) {
    ResnetWeight r;
    DITTO_ASSIGN_OR_RETURN(r.norm1, group_norm(name + ".norm1", in));
    DITTO_ASSIGN_OR_RETURN(r.conv1, conv(name + ".conv1", out, in, 3));
    DITTO_ASSIGN_OR_RETURN(r.norm2, group_norm(name + ".norm2", out));
    DITTO_ASSIGN_OR_RETURN(r.conv2, conv(name + ".conv2", out, out, 3));
    if (in != out) {
      DITTO_ASSIGN_OR_RETURN(r.shortcut, conv(name + "." + shortcut(), out, in, 1));
    }
    return r;
  }

  Result<AttentionWeight> attention_weight(const std::string& name, int64_t c) {
    AttentionWeight a;
    DITTO_ASSIGN_OR_RETURN(a.norm, group_norm(name + (ldm_ ? ".norm" : ".group_norm"), c));
    std::vector<float> qkv;
    for (const auto& [modern, old] : {std::pair{"to_q", "query"}, std::pair{"to_k", "key"}, std::pair{"to_v", "value"}}) {
      std::string found;
      const std::string short_name = std::string(modern).substr(3);  // q, k, v
      const std::vector<std::string> names = {name + (ldm_ ? "." + short_name : std::string(".") + modern),
                                              name + "." + old};
      DITTO_ASSIGN_OR_RETURN(auto w, square(names, c, found));
      DITTO_ASSIGN_OR_RETURN(auto b, vec(found + ".bias", {c}));
      qkv.insert(qkv.end(), w.begin(), w.end());
      a.qkv_bias.insert(a.qkv_bias.end(), b.begin(), b.end());
    }
    DITTO_ASSIGN_OR_RETURN(a.qkv, cpu::PackedWeight::pack(qkv.data(), 3 * c, c, dtype_));
    std::string found;
    const std::vector<std::string> out_names = {name + (ldm_ ? ".proj_out" : ".to_out.0"), name + ".proj_attn"};
    DITTO_ASSIGN_OR_RETURN(auto wo, square(out_names, c, found));
    DITTO_ASSIGN_OR_RETURN(a.out_bias, vec(found + ".bias", {c}));
    DITTO_ASSIGN_OR_RETURN(a.out, cpu::PackedWeight::pack(wo.data(), c, c, dtype_));
    bytes_ += a.qkv.bytes() + a.out.bytes() + 16 * c;
    return a;
  }

  Result<MidBlockWeight> mid_weight(const std::string& coder, int64_t c, bool with_attention) {
    MidBlockWeight m;
    DITTO_ASSIGN_OR_RETURN(m.first, resnet_weight(mid_resnet(coder, 0), c, c));
    if (with_attention) {
      DITTO_ASSIGN_OR_RETURN(m.attention, attention_weight(attention(coder), c));
    }
    DITTO_ASSIGN_OR_RETURN(m.second, resnet_weight(mid_resnet(coder, 1), c, c));
    return m;
  }

  // kUnsupportedModel naming the tensors nothing used (at most 8).
  Status check_all_used() const {
    std::vector<std::string> unused;
    for (const auto& e : file_.entries())
      if (!used_.count(e.name)) unused.push_back(e.name);
    if (unused.empty()) return Status::Ok();
    std::string list;
    for (size_t i = 0; i < std::min<size_t>(unused.size(), 8); ++i) list += (i ? ", " : "") + unused[i];
    if (unused.size() > 8) list += " (and " + std::to_string(unused.size() - 8) + " more)";
    return unsupported_model("VAE checkpoint " + file_.path() + ": " + std::to_string(unused.size()) +
                             " tensor(s) match no part of the configured AutoencoderKL (" +
                             (ldm_ ? "ldm" : "diffusers") + " layout): " + list);
  }
  uint64_t bytes() const { return bytes_; }

 private:
  const SafetensorsFile& file_;
  bool ldm_;
  int64_t levels_;
  DType dtype_;
  std::set<std::string> used_;
  uint64_t bytes_ = 0;
};

Result<CoderWeight> load_encoder(Loader& L, const VaeConfig& cfg) {
  const auto& ch = cfg.block_out_channels;
  const int64_t levels = static_cast<int64_t>(ch.size());
  CoderWeight e;
  DITTO_ASSIGN_OR_RETURN(e.conv_in, L.conv("encoder.conv_in", ch[0], cfg.in_channels, 3));
  int64_t in = ch[0];
  for (int64_t i = 0; i < levels; ++i) {
    LevelWeight level;
    for (int64_t j = 0; j < cfg.layers_per_block; ++j) {
      DITTO_ASSIGN_OR_RETURN(auto r, L.resnet_weight(L.resnet("encoder", i, j), j == 0 ? in : ch[i], ch[i]));
      level.resnets.push_back(std::move(r));
    }
    if (i + 1 < levels) {
      DITTO_ASSIGN_OR_RETURN(level.resample, L.conv(L.resample("encoder", i), ch[i], ch[i], 3));
    }
    e.levels.push_back(std::move(level));
    in = ch[i];
  }
  DITTO_ASSIGN_OR_RETURN(e.mid, L.mid_weight("encoder", ch.back(), cfg.mid_block_add_attention));
  DITTO_ASSIGN_OR_RETURN(e.norm_out, L.group_norm(L.norm_out("encoder"), ch.back()));
  DITTO_ASSIGN_OR_RETURN(e.conv_out, L.conv("encoder.conv_out", 2 * cfg.latent_channels, ch.back(), 3));
  return e;
}

Result<CoderWeight> load_decoder(Loader& L, const VaeConfig& cfg) {
  std::vector<int64_t> ch(cfg.block_out_channels.rbegin(), cfg.block_out_channels.rend());  // deepest first
  const int64_t levels = static_cast<int64_t>(ch.size());
  CoderWeight d;
  DITTO_ASSIGN_OR_RETURN(d.conv_in, L.conv("decoder.conv_in", ch[0], cfg.latent_channels, 3));
  DITTO_ASSIGN_OR_RETURN(d.mid, L.mid_weight("decoder", ch[0], cfg.mid_block_add_attention));
  int64_t in = ch[0];
  for (int64_t i = 0; i < levels; ++i) {
    LevelWeight level;
    for (int64_t j = 0; j <= cfg.layers_per_block; ++j) {
      DITTO_ASSIGN_OR_RETURN(auto r, L.resnet_weight(L.resnet("decoder", i, j), j == 0 ? in : ch[i], ch[i]));
      level.resnets.push_back(std::move(r));
    }
    if (i + 1 < levels) {
      DITTO_ASSIGN_OR_RETURN(level.resample, L.conv(L.resample("decoder", i), ch[i], ch[i], 3));
    }
    d.levels.push_back(std::move(level));
    in = ch[i];
  }
  DITTO_ASSIGN_OR_RETURN(d.norm_out, L.group_norm(L.norm_out("decoder"), ch.back()));
  DITTO_ASSIGN_OR_RETURN(d.conv_out, L.conv("decoder.conv_out", cfg.out_channels, ch.back(), 3));
  return d;
}

}  // namespace

Result<VaeWeights> load_vae_weights(const SafetensorsFile& file, VaeConfig& config, DType dtype) {
  if (file.has("encoder.down_blocks.0.resnets.0.conv1.weight") || file.has("decoder.up_blocks.0.resnets.0.conv1.weight")) {
    config.layout = "diffusers";
  } else if (file.has("encoder.down.0.block.0.conv1.weight") || file.has("decoder.up.0.block.0.conv1.weight")) {
    config.layout = "ldm";
  } else {
    std::string names;
    for (size_t i = 0; i < std::min<size_t>(file.entries().size(), 5); ++i)
      names += (i ? ", " : "") + file.entries()[i].name;
    return unsupported_model("VAE checkpoint " + file.path() +
                             " matches no AutoencoderKL layout (diffusers or ldm); its first tensors: " + names);
  }
  Loader loader(file, config, dtype);
  VaeWeights w;
  DITTO_ASSIGN_OR_RETURN(w.encoder, load_encoder(loader, config));
  DITTO_ASSIGN_OR_RETURN(w.decoder, load_decoder(loader, config));
  const int64_t lc = config.latent_channels;
  if (config.use_quant_conv) {
    DITTO_ASSIGN_OR_RETURN(w.quant_conv, loader.conv("quant_conv", 2 * lc, 2 * lc, 1));
  }
  if (config.use_post_quant_conv) {
    DITTO_ASSIGN_OR_RETURN(w.post_quant_conv, loader.conv("post_quant_conv", lc, lc, 1));
  }
  DITTO_RETURN_IF_ERROR(loader.check_all_used());
  w.bytes = loader.bytes();
  return w;
}

}  // namespace ditto::vae_detail

// DiT family description (see dit_family.h). MAC formulas follow the forward in dit.cpp op by op.
#include "models/dit_family.h"

#include "models/dit_internal.h"

namespace ditto::dit {

ModelInfo model_info(const DitConfig& c) {
  ModelInfo info;
  info.family = "dit";
  info.layout = c.layout == DitLayout::Official ? "official" : "diffusers";
  const int64_t side = c.layout == DitLayout::Official ? c.input_size : -1;
  info.inputs = {{"x", {-1, c.in_channels, side, side}, DType::F32}, {"t", {-1}, DType::F32}};
  info.conditions = {{"labels", {-1}, DType::I64}};
  info.outputs = {{"out", {-1, c.out_channels, side, side}, DType::F32}};
  auto num = [](int64_t v) { return static_cast<double>(v); };
  info.fields = {{"inputSize", num(c.input_size)},   {"patchSize", num(c.patch_size)},
                 {"inChannels", num(c.in_channels)}, {"outChannels", num(c.out_channels)},
                 {"hiddenSize", num(c.hidden_size)}, {"depth", num(c.depth)},
                 {"numHeads", num(c.num_heads)},     {"mlpRatio", c.mlp_ratio},
                 {"numClasses", num(c.num_classes)}, {"learnSigma", c.learn_sigma},
                 {"freqShift", static_cast<double>(c.freq_shift)}, {"normEps", static_cast<double>(c.norm_eps)},
                 {"ffNormEps", static_cast<double>(c.ff_norm_eps)}};
  info.config_path = c.config_path;
  info.config_json = c.config_json;
  return info;
}

uint64_t attention_macs(const DitConfig& c, int64_t tokens) {
  return 2 * static_cast<uint64_t>(tokens) * tokens * c.hidden_size;
}

PartMacs part_macs(const DitConfig& c, int64_t tokens, int64_t groups, int64_t mlp_hidden) {
  const uint64_t D = c.hidden_size, T = tokens, Hm = mlp_hidden, L = c.depth;
  const uint64_t patch_features = c.in_channels * c.patch_size * c.patch_size;
  const uint64_t out_features = c.out_channels * c.patch_size * c.patch_size;
  PartMacs m;
  m.prelude = T * patch_features * D                         // patch embed
              + groups * (kTimestepFeatures * D + D * D)     // timestep MLP per condition group
              + D * (6 * D * L + 2 * D);                     // every adaLN projection (one GEMM per group)
  const uint64_t block = T * D * 3 * D + attention_macs(c, tokens) + T * D * D + 2 * T * D * Hm;
  m.block.assign(static_cast<size_t>(L), block);
  m.final = T * D * out_features;
  return m;
}

Backbone backbone(const DitConfig& c, int64_t groups, int64_t mlp_hidden) {
  Backbone b;
  b.lists = {{block_prefix(c), c.depth}};
  b.macs = part_macs(c, num_tokens(c), groups, mlp_hidden);
  return b;
}

MacCount reference_macs(const DitConfig& c, int64_t groups, int64_t mlp_hidden) {
  const PartMacs p = part_macs(c, num_tokens(c), groups, mlp_hidden);
  const uint64_t D = c.hidden_size;
  MacCount m;
  m.blocks = (p.block.empty() ? 0 : p.block[0] + 6 * D * D) * static_cast<uint64_t>(c.depth);
  m.total = p.total();
  return m;
}

std::string block_prefix(const DitConfig& c) {
  return c.layout == DitLayout::Official ? "blocks" : "transformer_blocks";
}

Status detect(const SafetensorsFile& weights) {
  auto layout = detect_layout(weights, "");
  return layout.ok() ? Status::Ok() : layout.status();
}

FamilyLoader cpu_loader() {
  FamilyLoader f;
  f.family = "dit";
  f.backend = "cpu";
  f.detect = detect;
  f.load = [](std::shared_ptr<SafetensorsFile> weights, const ModelFiles& files,
              const LoadOptions& options) -> Result<std::unique_ptr<Denoiser>> {
    DITTO_ASSIGN_OR_RETURN(DitConfig config, parse_dit_config(files.config, *weights));
    DITTO_ASSIGN_OR_RETURN(std::unique_ptr<DitModel> model, DitModel::load(*weights, config, options));
    return std::unique_ptr<Denoiser>(std::move(model));
  };
  return f;
}

}  // namespace ditto::dit

// SD3 / SD3.5 MMDiT (Esser et al. 2024; diffusers SD3Transformer2DModel, golden README "sd3") on the CPU:
//   prelude  patchify + Linear (Conv2d p×p) + the persistent pos table center-cropped to the latent grid -> image
//            tokens; context_embedder(encoder_hidden_states) -> text tokens; temb = MLP_t(sinusoid(t)) +
//            MLP_text(pooled); every block's and norm_out's modulation = one GEMM on SiLU(temb).
//   blocks   joint blocks over [img, txt] (models/mmdit_blocks.h), SD3.5 dual attention where the checkpoint
//            has attn2, per-head q/k RMSNorm where it has norm_q, the last block context_pre_only.
//   final    norm_out (AdaLayerNormContinuous: scale, shift) -> proj_out -> unpatchify (nhwpqc -> nchpwq).
// skip_layers (Skip-Layer Guidance) is the executor's Skip action on a joint block: both streams pass unchanged.
// Every size comes from the tensor shapes; config.json supplies the head size when there is no q/k norm
// (attention_head_dim) and the default sample size. The t input is the float timestep in [0, 1000] as diffusers
// takes it (sigma·1000).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ditto/cpu/elementwise.h"
#include "ditto/cpu/embed.h"
#include "ditto/cpu/finite.h"
#include "ditto/cpu/norms.h"
#include "models/family_config.h"
#include "models/families.h"
#include "models/mmdit_blocks.h"

namespace ditto {
namespace {

using namespace mmdit;
constexpr int64_t kFreq = 256;

struct Sd3Weights {
  int64_t D = 0, in_channels = 0, out_channels = 0, patch = 0, pos_max = 0, joint_dim = 0, pooled_dim = 0;
  int64_t head_dim = 0, sample_size = 0, mod_cols = 0, norm_out_col = 0;
  Linear patch_embed, context_embedder, t_fc1, t_fc2, text_fc1, text_fc2, modulation, proj_out;
  std::vector<float> pos_table;  // [pos_max², D]
  std::vector<JointBlockWeights> blocks;
};

Result<Sd3Weights> load_sd3(const SafetensorsFile& file, const FamilyKwargs& kw, DType dtype) {
  WeightReader r(file, "diffusers SD3Transformer2DModel", dtype);
  Sd3Weights w;
  DITTO_ASSIGN_OR_RETURN(Shape pe, r.shape("pos_embed.proj.weight"));
  if (pe.size() != 4 || pe[2] != pe[3])
    return model_load_error("Tensor \"pos_embed.proj.weight\" in \"" + file.path() + "\" has shape " +
                            shape_string(pe) + " but a square patch Conv2d [D, C, p, p] was expected");
  w.D = pe[0];
  w.in_channels = pe[1];
  w.patch = pe[2];
  const int64_t D = w.D;
  DITTO_ASSIGN_OR_RETURN(Shape table, r.shape("pos_embed.pos_embed"));
  w.pos_max = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(table.size() == 3 ? table[1] : 0))));
  if (table.size() != 3 || w.pos_max * w.pos_max != table[1] || table[2] != D)
    return model_load_error("Tensor \"pos_embed.pos_embed\" in \"" + file.path() + "\" has shape " +
                            shape_string(table) + " but [1, max², " + std::to_string(D) + "] was expected");
  DITTO_ASSIGN_OR_RETURN(w.pos_table, r.vector("pos_embed.pos_embed", table));
  // Conv2d [D, C, p, p] flattened row-wise is the [D, C·p·p] Linear over patchify's feature order.
  {
    HostLinear h;
    h.n = D;
    h.k = w.in_channels * w.patch * w.patch;
    DITTO_ASSIGN_OR_RETURN(h.weight, r.vector("pos_embed.proj.weight", pe));
    DITTO_ASSIGN_OR_RETURN(h.bias, r.vector("pos_embed.proj.bias", {D}));
    DITTO_ASSIGN_OR_RETURN(w.patch_embed, r.pack(std::move(h)));
  }
  DITTO_ASSIGN_OR_RETURN(Shape ce, r.shape("context_embedder.weight"));
  w.joint_dim = ce.size() == 2 ? ce[1] : 0;
  DITTO_ASSIGN_OR_RETURN(w.context_embedder, r.linear({"context_embedder"}, w.joint_dim));
  DITTO_ASSIGN_OR_RETURN(w.t_fc1, r.linear({"time_text_embed.timestep_embedder.linear_1"}, kFreq));
  DITTO_ASSIGN_OR_RETURN(w.t_fc2, r.linear({"time_text_embed.timestep_embedder.linear_2"}, D));
  DITTO_ASSIGN_OR_RETURN(Shape te, r.shape("time_text_embed.text_embedder.linear_1.weight"));
  w.pooled_dim = te.size() == 2 ? te[1] : 0;
  DITTO_ASSIGN_OR_RETURN(w.text_fc1, r.linear({"time_text_embed.text_embedder.linear_1"}, w.pooled_dim));
  DITTO_ASSIGN_OR_RETURN(w.text_fc2, r.linear({"time_text_embed.text_embedder.linear_2"}, D));
  for (const Linear* l : {&w.context_embedder, &w.t_fc1, &w.t_fc2, &w.text_fc1, &w.text_fc2})
    if (l->out() != D) return model_load_error("The embedders of \"" + file.path() + "\" do not all output D = " + std::to_string(D));

  if (r.has("transformer_blocks.0.attn.norm_q.weight")) {
    DITTO_ASSIGN_OR_RETURN(Shape nq, r.shape("transformer_blocks.0.attn.norm_q.weight"));
    w.head_dim = nq.empty() ? 0 : nq[0];
  } else {
    DITTO_ASSIGN_OR_RETURN(w.head_dim, kw.positive_int("attention_head_dim", 64));
  }
  if (w.head_dim <= 0 || D % w.head_dim != 0)
    return model_load_error("SD3 head size " + std::to_string(w.head_dim) + " does not divide the width " + std::to_string(D));
  DITTO_ASSIGN_OR_RETURN(w.sample_size, kw.positive_int("sample_size", 128));

  int64_t depth = 0;
  while (r.has("transformer_blocks." + std::to_string(depth) + ".norm1.linear.weight")) ++depth;
  if (depth == 0) return r.missing("transformer_blocks.0.norm1.linear.weight");
  std::vector<std::string> mod_parts;
  int64_t col = 0;
  for (int64_t i = 0; i < depth; ++i) {
    const std::string p = "transformer_blocks." + std::to_string(i) + ".";
    JointBlockWeights b;
    b.dual = r.has(p + "attn2.to_q.weight");
    DITTO_ASSIGN_OR_RETURN(Shape m1, r.shape(p + "norm1.linear.weight"));
    if (m1 != Shape{(b.dual ? 9 : 6) * D, D})
      return model_load_error("Tensor \"" + p + "norm1.linear.weight\" in \"" + file.path() + "\" has shape " +
                              shape_string(m1) + " but " + shape_string({(b.dual ? 9 : 6) * D, D}) + " was expected");
    DITTO_ASSIGN_OR_RETURN(Shape m2, r.shape(p + "norm1_context.linear.weight"));
    b.txt.pre_only = !m2.empty() && m2[0] == 2 * D;
    b.img.mod_col = col;
    col += m1[0];
    b.txt.mod_col = col;
    col += m2.empty() ? 0 : m2[0];
    mod_parts.push_back(p + "norm1.linear");
    mod_parts.push_back(p + "norm1_context.linear");
    DITTO_ASSIGN_OR_RETURN(b.img.qkv, r.linear({p + "attn.to_q", p + "attn.to_k", p + "attn.to_v"}, D));
    DITTO_ASSIGN_OR_RETURN(b.txt.qkv, r.linear({p + "attn.add_q_proj", p + "attn.add_k_proj", p + "attn.add_v_proj"}, D));
    if (r.has(p + "attn.norm_q.weight")) {
      DITTO_ASSIGN_OR_RETURN(b.img.norm_q, r.vector(p + "attn.norm_q.weight", {w.head_dim}));
      DITTO_ASSIGN_OR_RETURN(b.img.norm_k, r.vector(p + "attn.norm_k.weight", {w.head_dim}));
      DITTO_ASSIGN_OR_RETURN(b.txt.norm_q, r.vector(p + "attn.norm_added_q.weight", {w.head_dim}));
      DITTO_ASSIGN_OR_RETURN(b.txt.norm_k, r.vector(p + "attn.norm_added_k.weight", {w.head_dim}));
    }
    DITTO_ASSIGN_OR_RETURN(b.img.out, r.linear({p + "attn.to_out.0"}, D));
    DITTO_ASSIGN_OR_RETURN(b.img.ff1, r.linear({p + "ff.net.0.proj"}, D));
    DITTO_ASSIGN_OR_RETURN(b.img.ff2, r.linear({p + "ff.net.2"}, b.img.ff1.out()));
    if (!b.txt.pre_only) {
      DITTO_ASSIGN_OR_RETURN(b.txt.out, r.linear({p + "attn.to_add_out"}, D));
      DITTO_ASSIGN_OR_RETURN(b.txt.ff1, r.linear({p + "ff_context.net.0.proj"}, D));
      DITTO_ASSIGN_OR_RETURN(b.txt.ff2, r.linear({p + "ff_context.net.2"}, b.txt.ff1.out()));
    }
    if (b.dual) {
      DITTO_ASSIGN_OR_RETURN(b.qkv2, r.linear({p + "attn2.to_q", p + "attn2.to_k", p + "attn2.to_v"}, D));
      DITTO_ASSIGN_OR_RETURN(b.out2, r.linear({p + "attn2.to_out.0"}, D));
      if (r.has(p + "attn2.norm_q.weight")) {
        DITTO_ASSIGN_OR_RETURN(b.norm_q2, r.vector(p + "attn2.norm_q.weight", {w.head_dim}));
        DITTO_ASSIGN_OR_RETURN(b.norm_k2, r.vector(p + "attn2.norm_k.weight", {w.head_dim}));
      }
    }
    w.blocks.push_back(std::move(b));
  }
  w.norm_out_col = col;
  mod_parts.push_back("norm_out.linear");
  DITTO_ASSIGN_OR_RETURN(HostLinear mod, r.host(mod_parts, D));
  if (mod.n != col + 2 * D)
    return model_load_error("Tensor \"norm_out.linear.weight\" in \"" + file.path() + "\" must have " +
                            std::to_string(2 * D) + " rows (scale, shift)");
  w.mod_cols = mod.n;
  DITTO_ASSIGN_OR_RETURN(w.modulation, r.pack(std::move(mod)));
  DITTO_ASSIGN_OR_RETURN(w.proj_out, r.linear({"proj_out"}, D));
  if (w.proj_out.out() % (w.patch * w.patch) != 0)
    return model_load_error("Tensor \"proj_out.weight\" in \"" + file.path() + "\" has " +
                            std::to_string(w.proj_out.out()) + " rows, not a multiple of p² = " +
                            std::to_string(w.patch * w.patch));
  w.out_channels = w.proj_out.out() / (w.patch * w.patch);
  return w;
}

class Sd3Model final : public CpuJointModel {
 public:
  static Result<std::unique_ptr<Denoiser>> load(const SafetensorsFile& file, const ModelFiles& files,
                                                const LoadOptions& options) {
    return load_joint<Sd3Model>(file, files, options, load_sd3);
  }

  Status validate(const Tensor& x, const std::vector<float>& t, const Conditions& c) override {
    const int64_t p = w_.patch;
    if (x.dtype() != DType::F32 || x.ndim() != 4 || x.dim(0) < 1 || x.dim(1) != w_.in_channels ||
        x.dim(2) % p != 0 || x.dim(3) % p != 0 || x.dim(2) < p || x.dim(3) < p)
      return invalid_argument("Expected x of dtype F32 and shape [B, " + std::to_string(w_.in_channels) +
                              ", H, W] with H and W multiples of the patch size " + std::to_string(p) +
                              " but received " + dtype_name(x.dtype()) + " " + shape_string(x.shape()));
    if (x.dim(2) / p > w_.pos_max || x.dim(3) / p > w_.pos_max)
      return invalid_argument("The latent grid " + std::to_string(x.dim(2) / p) + "x" + std::to_string(x.dim(3) / p) +
                              " exceeds the position table (pos_embed_max_size " + std::to_string(w_.pos_max) + ")");
    const int64_t B = x.dim(0);
    DITTO_RETURN_IF_ERROR(check_timesteps(B, t));
    if (c.tensors.size() < 2)
      return invalid_argument("SD3 needs the conditions encoderHiddenStates and pooledProjections");
    return check_text(c, B);
  }

  Status prelude(const Tensor& x, const std::vector<float>& t, const Conditions& c,
                 const IntermediateSink* o) override {
    DITTO_RETURN_IF_ERROR(validate(x, t, c));
    const int64_t B = x.dim(0), D = w_.D, p = w_.patch;
    height_ = x.dim(2);
    width_ = x.dim(3);
    const int64_t gh = height_ / p, gw = width_ / p, L = gh * gw;
    const Tensor& ehs = c.tensors[0];
    set_geometry(L, ehs.dim(1));
    const int64_t S = geometry_.seq();
    const int64_t patch_features = w_.in_channels * p * p;
    int64_t ff_cols = 0;
    for (const auto& b : w_.blocks) ff_cols = std::max({ff_cols, b.img.ff1.out(), b.txt.pre_only ? 0 : b.txt.ff1.out()});
    DITTO_RETURN_IF_ERROR(ensure_workspace(ws_, B, S, L, D, std::max(3 * D, patch_features),
                                           std::max(D, w_.proj_out.out()), ff_cols, w_.mod_cols, 1));
    embed_.resize(static_cast<size_t>(B * (kFreq + 3 * D)));
    ThreadPool& tp = *pool_;
    float* h = ws_.h.data<float>();

    // Image tokens: patchify -> Linear -> + cropped pos table, into rows [0, L) of each sample.
    float* patches = ws_.big.data<float>();  // [B·L, C·p·p] dense (big holds B·S·max(3D, C·p·p) floats)
    float* tokens = ws_.xn.data<float>();
    cpu::patchify(x.data<float>(), B, w_.in_channels, height_, width_, p, patches);
    cpu::Epilogue pe;
    pe.bias = w_.patch_embed.bias.data();
    cpu::linear(tp, patches, B * L, patch_features, w_.patch_embed.weight, tokens, D, pe);
    const int64_t top = (w_.pos_max - gh) / 2, left = (w_.pos_max - gw) / 2;
    tp.parallel_for(B * L, [&](int64_t r, int) {
      const int64_t b = r / L, i = r % L;
      const float* pos = w_.pos_table.data() + ((top + i / gw) * w_.pos_max + left + i % gw) * D;
      const float* src = tokens + r * D;
      float* dst = h + (b * S + i) * D;
      for (int64_t j = 0; j < D; ++j) dst[j] = src[j] + pos[j];
    });
    if (o) {
      (*o)("pos_embed.table", Tensor::borrow(nullptr, w_.pos_table.data(), DType::F32, {1, w_.pos_max * w_.pos_max, D}));
      emit_stream(*o, "pos_embed.out", h, B, S, 0, L, D);
    }

    // Text tokens: context_embedder, into rows [L, S); computed once per generation (TextMemo).
    const int64_t Lt = ehs.dim(1);
    cpu::Epilogue ce;
    ce.bias = w_.context_embedder.bias.data();
    text_macs_computed_ = 0;
    text_rows_ = B;
    for (int64_t b = 0; b < B; ++b) {
      const float* src = ehs.data<float>() + b * Lt * w_.joint_dim;
      float* dst = h + (b * S + L) * D;
      if (!memo_.run(b, 0, src, Lt * w_.joint_dim, dst, Lt * D,
                     [&] { cpu::linear(tp, src, Lt, w_.joint_dim, w_.context_embedder.weight, dst, D, ce); }))
        text_macs_computed_ += context_macs(Lt);
    }
    if (o) emit_stream(*o, "context_embedder.out", h, B, S, L, Lt, D);

    // temb = MLP_t(sinusoid(t)) + MLP_text(pooled); modulation = Linear(SiLU(temb)).
    float* t_freq = embed_.data();
    float* tmp = t_freq + B * kFreq;
    float* temb = tmp + B * D;
    float* text = temb + B * D;
    cpu::timestep_embedding(t.data(), B, kFreq, 10000.f, 0.f, true, t_freq);
    mlp_silu(tp, t_freq, B, w_.t_fc1, w_.t_fc2, tmp, temb);
    for (int64_t b = 0; b < B; ++b) {  // one row at a time, so a memoised row is bit-identical to a recomputed one
      const float* pooled = c.tensors[1].data<float>() + b * w_.pooled_dim;
      if (!memo_.run(b, 1, pooled, w_.pooled_dim, text + b * D, D,
                     [&] { mlp_silu(tp, pooled, 1, w_.text_fc1, w_.text_fc2, tmp, text + b * D); }))
        text_macs_computed_ += pooled_macs();
    }
    for (int64_t i = 0; i < B * D; ++i) temb[i] += text[i];
    if (o) {
      (*o)("t_freq", Tensor::borrow(nullptr, t_freq, DType::F32, {B, kFreq}));
      (*o)("temb", Tensor::borrow(nullptr, temb, DType::F32, {B, D}));
    }
    cpu::silu(tp, temb, tmp, B * D);
    cpu::Epilogue em;
    em.bias = w_.modulation.bias.data();
    cpu::linear(tp, tmp, B, D, w_.modulation.weight, ws_.ada.data<float>(), w_.mod_cols, em);
    ws_bytes_.store(ws_.bytes() + embed_.size() * sizeof(float) + memo_.bytes(), std::memory_order_relaxed);
    return Status::Ok();
  }

  Status block(int64_t index, int64_t first_row, int64_t rows, bool perturb) override {
    joint_block(*pool_, w_.blocks[static_cast<size_t>(index)], geometry_, ws_, false, first_row, rows, perturb);
    return Status::Ok();
  }

  Result<Tensor> final(int64_t rows, const IntermediateSink* o) override {
    const int64_t D = w_.D, L = geometry_.img_tokens, S = geometry_.seq(), B = rows;
    ThreadPool& tp = *pool_;
    float* xn = ws_.xn.data<float>();
    const float* ada = ws_.ada.data<float>() + w_.norm_out_col;
    for (int64_t b = 0; b < B; ++b)  // AdaLayerNormContinuous: (scale, shift)
      cpu::layer_norm(tp, ws_.h.data<float>() + b * S * D, xn + b * L * D, L, D, geometry_.norm_eps, nullptr, nullptr,
                      cpu::Modulation{ada + b * w_.mod_cols + D, ada + b * w_.mod_cols, L, 0});
    if (o) (*o)("norm_out.out", Tensor::borrow(nullptr, xn, DType::F32, {B, L, D}));
    float* proj = ws_.attn.data<float>();
    cpu::Epilogue e;
    e.bias = w_.proj_out.bias.data();
    cpu::linear(tp, xn, B * L, D, w_.proj_out.weight, proj, w_.proj_out.out(), e);
    DITTO_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::F32, {B, w_.out_channels, height_, width_}));
    cpu::unpatchify(proj, B, w_.out_channels, height_, width_, w_.patch, out.data<float>());
    return out;
  }

  Status emit_block(int64_t index, int64_t rows, const IntermediateSink& sink) override {
    const std::string name = "transformer_blocks." + std::to_string(index);
    const int64_t S = geometry_.seq(), D = w_.D;
    emit_stream(sink, name + ".out", ws_.h.data<float>(), rows, S, 0, geometry_.img_tokens, D);
    if (!w_.blocks[static_cast<size_t>(index)].txt.pre_only)
      emit_stream(sink, name + ".out_context", ws_.h.data<float>(), rows, S, geometry_.img_tokens,
                  geometry_.txt_tokens, D);
    return Status::Ok();
  }

  PartMacs part_macs() const override { return macs_at(geometry_); }
  uint64_t attention_macs(int64_t index) const override {
    return joint_attention_macs(w_.blocks[static_cast<size_t>(index)], geometry_);
  }

 private:
  friend class CpuJointModel;  // load_joint
  explicit Sd3Model(int threads) : CpuJointModel(threads, StreamOrder::ImageText) {}

  // MACs per sample; the text part (context_embedder, pooled MLP) per CpuJointModel::text_macs.
  PartMacs macs_at(const JointGeometry& g, bool measured = true) const {
    const uint64_t D = w_.D, L = g.img_tokens;
    const uint64_t text = text_macs(g, measured);
    PartMacs m;
    m.prelude = L * static_cast<uint64_t>(w_.patch_embed.in()) * D + text + kFreq * D + D * D +
                D * static_cast<uint64_t>(w_.mod_cols);
    for (const auto& b : w_.blocks) m.block.push_back(joint_block_macs(b, g));
    m.final = L * D * static_cast<uint64_t>(w_.proj_out.out());
    return m;
  }

  void describe(const FamilyKwargs& kw) {
    const int64_t side = w_.sample_size;
    info_.family = "sd3";
    info_.layout = "diffusers";
    info_.inputs = {{"x", {-1, w_.in_channels, -1, -1}, DType::F32}, {"t", {-1}, DType::F32}};
    info_.conditions = {{"encoderHiddenStates", {-1, -1, w_.joint_dim}, DType::F32},
                        {"pooledProjections", {-1, w_.pooled_dim}, DType::F32}};
    info_.outputs = {{"out", {-1, w_.out_channels, -1, -1}, DType::F32}};
    int64_t dual = 0;
    for (const auto& b : w_.blocks) dual += b.dual ? 1 : 0;
    auto num = [](int64_t v) { return static_cast<double>(v); };
    info_.fields = {{"sampleSize", num(side)},
                    {"patchSize", num(w_.patch)},
                    {"inChannels", num(w_.in_channels)},
                    {"outChannels", num(w_.out_channels)},
                    {"hiddenSize", num(w_.D)},
                    {"depth", num(static_cast<int64_t>(w_.blocks.size()))},
                    {"numHeads", num(w_.D / w_.head_dim)},
                    {"headDim", num(w_.head_dim)},
                    {"jointAttentionDim", num(w_.joint_dim)},
                    {"pooledProjectionDim", num(w_.pooled_dim)},
                    {"posEmbedMaxSize", num(w_.pos_max)},
                    {"dualAttentionBlocks", num(dual)},
                    {"qkNorm", !w_.blocks.empty() && !w_.blocks[0].img.norm_q.empty()}};
    info_.config_path = kw.path();
    info_.config_json = kw.config_json();
    backbone_.lists = {{"transformer_blocks", static_cast<int64_t>(w_.blocks.size())}};
    JointGeometry g = geometry_;
    set_geometry((side / w_.patch) * (side / w_.patch), 77 + 256);  // SD3's usual CLIP+T5 context length
    backbone_.macs = macs_at(geometry_, false);
    geometry_ = g;
    weight_bytes_ = w_.pos_table.size() * sizeof(float);
    for (const Linear* l : {&w_.patch_embed, &w_.context_embedder, &w_.t_fc1, &w_.t_fc2, &w_.text_fc1, &w_.text_fc2,
                            &w_.modulation, &w_.proj_out})
      weight_bytes_ += l->bytes();
    for (const auto& b : w_.blocks)
      for (const Linear* l : {&b.img.qkv, &b.img.out, &b.img.ff1, &b.img.ff2, &b.txt.qkv, &b.txt.out, &b.txt.ff1,
                              &b.txt.ff2, &b.qkv2, &b.out2})
        weight_bytes_ += l->bytes();
  }

  Sd3Weights w_;
  int64_t height_ = 0, width_ = 0;
  std::vector<float> embed_;  // t_freq, MLP hidden, temb, pooled embedding
  TextMemo memo_;
};

}  // namespace

namespace sd3 {

Status detect(const SafetensorsFile& weights) {
  if (weights.has("pos_embed.pos_embed") && weights.has("context_embedder.weight") &&
      weights.has("transformer_blocks.0.norm1_context.linear.weight"))
    return Status::Ok();
  return unsupported_model("Unsupported model: \"" + weights.path() +
                           "\" is not an SD3 MMDiT checkpoint (no diffusers SD3Transformer2DModel tensors "
                           "pos_embed.pos_embed, context_embedder.weight, transformer_blocks.0.norm1_context.linear.weight)");
}

FamilyLoader cpu_loader() {
  FamilyLoader f;
  f.family = "sd3";
  f.backend = "cpu";
  f.detect = detect;
  f.load = [](std::shared_ptr<SafetensorsFile> weights, const ModelFiles& files, const LoadOptions& options) {
    return Sd3Model::load(*weights, files, options);
  };
  return f;
}

}  // namespace sd3
}  // namespace ditto

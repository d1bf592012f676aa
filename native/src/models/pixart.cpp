// PixArt-α / PixArt-Σ (Chen et al. 2023, "PixArt-α: Fast Training of Diffusion Transformer for Photorealistic
// Text-to-Image Synthesis"; reference diffusers PixArtTransformer2DModel, shared/golden/README.md "pixart"):
//   prelude  patchify + patch Linear + 2-D sin-cos table (diffusers positions) -> h;  t -> 256-d sinusoid ->
//            Linear,SiLU,Linear = embedded_timestep -> adaLN-single Linear(SiLU(.)) = t6 [B, 6D] shared by every
//            block (block i adds its own scale_shift_table);  caption projection Linear,GELU-tanh,Linear of the
//            text embeddings, and every block's cross-attention K/V of it — cached while the text is unchanged
//            (text_family.h CrossKvCache), so a generation computes them once;  text mask -> additive key bias
//            (1 - mask) * -10000 (not -inf: an all-masked row attends uniformly).
//   block    LN+modulate -> self-attention (fused q|k|v) -> out proj, gated residual;  cross-attention on the
//            UN-normalised h (no norm, no gate) against the cached K/V;  LN+modulate -> FF (GELU-tanh), gated.
//   final    LN, modulate with (table + embedded_timestep) as (shift, scale), Linear, unpatchify nhwpqc->nchpwq.
// Only the diffusers key layout exists for PixArt checkpoints on the Hub; resolution / aspect-ratio
// conditioning (PixArt-α 1024's use_additional_conditions) is refused at load by name.
#include "models/pixart.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "ditto/cpu/attention.h"
#include "ditto/cpu/elementwise.h"
#include "ditto/cpu/embed.h"
#include "ditto/cpu/finite.h"
#include "ditto/cpu/norms.h"
#include "ditto/executor.h"
#include "models/family_model.h"
#include "models/text_model.h"
#include "models/text_family.h"
#include "runtime/cpu_ops.h"

namespace ditto::pixart {
namespace {

constexpr int64_t kTimestepFeatures = 256;
constexpr float kMaskBias = -10000.f;

struct Config {
  int64_t hidden = 0, heads = 0, head_dim = 0, depth = 0, in_channels = 0, out_channels = 0, patch = 0;
  int64_t caption_channels = 0, ff_hidden = 0, sample_size = 0;
  double interpolation_scale = 1, norm_eps = 1e-6;
  std::string config_path, config_json;
};

struct Block {
  family::Linear qkv, self_out, q, kv, cross_out, ff1, ff2;
  HostVector<float> table;  // scale_shift_table [6, D]
};

struct Weights {
  family::Linear patch_embed, t_fc1, t_fc2, adaln, cap1, cap2, proj_out;
  HostVector<float> final_table;  // [2, D]
  std::vector<Block> blocks;
  uint64_t bytes() const {
    uint64_t b = patch_embed.bytes() + t_fc1.bytes() + t_fc2.bytes() + adaln.bytes() + cap1.bytes() + cap2.bytes() +
                 proj_out.bytes() + final_table.size() * sizeof(float);
    for (const Block& k : blocks)
      b += k.qkv.bytes() + k.self_out.bytes() + k.q.bytes() + k.kv.bytes() + k.cross_out.bytes() + k.ff1.bytes() +
           k.ff2.bytes() + k.table.size() * sizeof(float);
    return b;
  }
};

std::vector<family::KeyLayout> layouts() {
  family::KeyLayout d;
  d.name = "diffusers";
  d.reference = "diffusers PixArtTransformer2DModel";
  auto wb = [&](const std::string& p) {
    d.known.insert(p + ".weight");
    d.known.insert(p + ".bias");
  };
  for (const char* p : {"pos_embed.proj", "adaln_single.emb.timestep_embedder.linear_1",
                        "adaln_single.emb.timestep_embedder.linear_2", "adaln_single.linear", "caption_projection.linear_1",
                        "caption_projection.linear_2", "proj_out"})
    wb(p);
  d.known.insert("scale_shift_table");
  for (const char* a : {"attn1", "attn2"})
    for (const char* p : {"to_q", "to_k", "to_v", "to_out.0"}) wb(std::string("transformer_blocks.#.") + a + "." + p);
  wb("transformer_blocks.#.ff.net.0.proj");
  wb("transformer_blocks.#.ff.net.2");
  d.known.insert("transformer_blocks.#.scale_shift_table");
  d.required = {"pos_embed.proj.weight", "adaln_single.linear.weight", "caption_projection.linear_1.weight",
                "proj_out.weight", "scale_shift_table", "transformer_blocks.0.attn2.to_k.weight"};
  return {d};
}

const family::FamilyKeys kKeys{"PixArt", {"adaln_single.linear.weight"}, {"transformer_blocks"}, layouts};

Result<Config> parse_config(const SafetensorsFile& file, const std::string& config_path) {
  DITTO_ASSIGN_OR_RETURN(family::ConfigKwargs kw, family::ConfigKwargs::read(config_path));
  family::CheckpointReader r(file, "diffusers PixArtTransformer2DModel", DType::F32);
  Config c;
  DITTO_ASSIGN_OR_RETURN(Shape pe, r.shape("pos_embed.proj.weight"));
  if (pe.size() != 4 || pe[2] != pe[3])
    return model_load_error("Tensor \"pos_embed.proj.weight\" has shape " + shape_string(pe) +
                            " but a square Conv2d patch [D, C, p, p] was expected");
  c.hidden = pe[0];
  c.in_channels = pe[1];
  c.patch = pe[2];
  DITTO_ASSIGN_OR_RETURN(c.heads, kw.positive_int("num_attention_heads", 16));
  DITTO_ASSIGN_OR_RETURN(c.head_dim, kw.positive_int("attention_head_dim", c.hidden / c.heads));
  if (c.heads * c.head_dim != c.hidden)
    return kw.error("num_attention_heads (" + std::to_string(c.heads) + ") x attention_head_dim (" +
                    std::to_string(c.head_dim) + ") must equal the checkpoint's hidden size " +
                    std::to_string(c.hidden));
  c.depth = family::count_blocks(file, "transformer_blocks");
  DITTO_ASSIGN_OR_RETURN(Shape po, r.shape("proj_out.weight"));
  if (po.size() != 2 || po[0] % (c.patch * c.patch) != 0)
    return model_load_error("Tensor \"proj_out.weight\" has shape " + shape_string(po) + ", not [p*p*C_out, D]");
  c.out_channels = po[0] / (c.patch * c.patch);
  DITTO_ASSIGN_OR_RETURN(Shape cap, r.shape("caption_projection.linear_1.weight"));
  if (cap.size() != 2) return model_load_error("Tensor \"caption_projection.linear_1.weight\" is not 2-D");
  c.caption_channels = cap[1];
  DITTO_ASSIGN_OR_RETURN(Shape ff, r.shape("transformer_blocks.0.ff.net.0.proj.weight"));
  c.ff_hidden = ff.empty() ? 0 : ff[0];
  DITTO_ASSIGN_OR_RETURN(c.sample_size, kw.positive_int("sample_size", 128));
  const double default_interp = static_cast<double>(std::max<int64_t>(c.sample_size / 64, 1));
  DITTO_ASSIGN_OR_RETURN(c.interpolation_scale, kw.number("interpolation_scale", default_interp));
  DITTO_ASSIGN_OR_RETURN(c.norm_eps, kw.number("norm_eps", 1e-6));
  if (!(c.interpolation_scale > 0)) return kw.error("\"interpolation_scale\" must be positive");
  if (c.sample_size % c.patch != 0) return kw.error("\"sample_size\" must be a multiple of the patch size");
  c.config_path = config_path;
  c.config_json = kw.json();
  return c;
}

Result<Weights> load_weights(const SafetensorsFile& file, const Config& c, DType dtype) {
  family::CheckpointReader r(file, "diffusers PixArtTransformer2DModel", dtype);
  const int64_t D = c.hidden;
  Weights w;
  DITTO_ASSIGN_OR_RETURN(w.patch_embed, r.conv_as_linear("pos_embed.proj", {D, c.in_channels, c.patch, c.patch}));
  DITTO_ASSIGN_OR_RETURN(w.t_fc1, r.linear({"adaln_single.emb.timestep_embedder.linear_1"}, kTimestepFeatures));
  DITTO_ASSIGN_OR_RETURN(w.t_fc2, r.linear({"adaln_single.emb.timestep_embedder.linear_2"}, D));
  DITTO_ASSIGN_OR_RETURN(w.adaln, r.linear({"adaln_single.linear"}, D));
  DITTO_ASSIGN_OR_RETURN(w.cap1, r.linear({"caption_projection.linear_1"}, c.caption_channels));
  DITTO_ASSIGN_OR_RETURN(w.cap2, r.linear({"caption_projection.linear_2"}, D));
  DITTO_ASSIGN_OR_RETURN(w.proj_out, r.linear({"proj_out"}, D));
  DITTO_ASSIGN_OR_RETURN(w.final_table, r.floats("scale_shift_table", {2, D}));
  for (const family::Linear* l : {&w.t_fc2, &w.cap2})
    if (l->out() != D) return model_load_error("PixArt embedder output width differs from the hidden size");
  if (w.adaln.out() != 6 * D) return model_load_error("Tensor \"adaln_single.linear.weight\" is not [6D, D]");
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string p = "transformer_blocks." + std::to_string(i) + ".";
    Block b;
    DITTO_ASSIGN_OR_RETURN(b.qkv, r.linear({p + "attn1.to_q", p + "attn1.to_k", p + "attn1.to_v"}, D));
    DITTO_ASSIGN_OR_RETURN(b.self_out, r.linear({p + "attn1.to_out.0"}, D));
    DITTO_ASSIGN_OR_RETURN(b.q, r.linear({p + "attn2.to_q"}, D));
    DITTO_ASSIGN_OR_RETURN(b.kv, r.linear({p + "attn2.to_k", p + "attn2.to_v"}, D));
    DITTO_ASSIGN_OR_RETURN(b.cross_out, r.linear({p + "attn2.to_out.0"}, D));
    DITTO_ASSIGN_OR_RETURN(b.ff1, r.linear({p + "ff.net.0.proj"}, D));
    DITTO_ASSIGN_OR_RETURN(b.ff2, r.linear({p + "ff.net.2"}, c.ff_hidden));
    DITTO_ASSIGN_OR_RETURN(b.table, r.floats(p + "scale_shift_table", {6, D}));
    if (b.qkv.out() != 3 * D || b.kv.out() != 2 * D || b.ff1.out() != c.ff_hidden || b.ff2.out() != D ||
        b.self_out.out() != D || b.cross_out.out() != D || b.q.out() != D)
      return model_load_error("PixArt block " + std::to_string(i) + " has projections of the wrong width");
    w.blocks.push_back(std::move(b));
  }
  return w;
}

class PixArtModel final : public family::TextModel<Config, Weights> {
 public:
  static Result<std::unique_ptr<Denoiser>> create(const SafetensorsFile& file, const Config& c,
                                                  const LoadOptions& options) {
    DITTO_ASSIGN_OR_RETURN(auto m, create_model<PixArtModel>(file, c, options, "PixArt", load_weights));
    m->info_ = m->make_info();
    m->backbone_.lists = {{"transformer_blocks", c.depth}};
    m->height_ = m->width_ = c.sample_size;
    m->backbone_.macs = m->macs_at(true);
    return std::unique_ptr<Denoiser>(std::move(m));
  }

  // ---- BackboneKernels (the Denoiser boilerplate is family::CpuModel's, the rest family::TextModel's) ----------
  Status validate(const Tensor& x, const std::vector<float>& t, const Conditions& cond) override {
    const int64_t p = c_.patch;
    if (x.dtype() != DType::F32 || x.ndim() != 4 || x.dim(0) < 1 || x.dim(1) != c_.in_channels || x.dim(2) < p ||
        x.dim(3) < p || x.dim(2) % p != 0 || x.dim(3) % p != 0)
      return invalid_argument("Expected x of shape [B, " + std::to_string(c_.in_channels) +
                              ", H, W] (F32, H and W multiples of " + std::to_string(p) + ") but received " +
                              shape_string(x.shape()) + " " + dtype_name(x.dtype()));
    const int64_t B = x.dim(0);
    if (static_cast<int64_t>(t.size()) != B)
      return invalid_argument("Expected " + std::to_string(B) + " timesteps (one per sample) but received " +
                              std::to_string(t.size()));
    for (float v : t)
      if (!std::isfinite(v)) return invalid_argument("Expected finite timesteps");
    if (!cond.labels.empty()) return invalid_argument("PixArt takes no labels (it is conditioned on text embeddings)");
    if (cond.tensors.empty()) return invalid_argument("Expected the condition encoderHiddenStates but it is missing");
    if (cond.tensors.size() > 2)
      return invalid_argument("Expected at most 2 conditions (encoderHiddenStates, encoderAttentionMask) but received " +
                              std::to_string(cond.tensors.size()));
    const Tensor& text = cond.tensors[0];
    DITTO_RETURN_IF_ERROR(family::check_text_condition(text, "encoderHiddenStates", B, c_.caption_channels));
    if (cond.tensors.size() == 2 && cond.tensors[1].ndim() != 0) {
      const Tensor& m = cond.tensors[1];
      if (m.dtype() != DType::F32 || m.ndim() != 2 || m.dim(0) != B || m.dim(1) != text.dim(1))
        return invalid_argument("Expected encoderAttentionMask of shape [" + std::to_string(B) + ", " +
                                std::to_string(text.dim(1)) + "] (F32, 1 = keep, 0 = masked) but received " +
                                shape_string(m.shape()) + " " + dtype_name(m.dtype()));
      for (int64_t i = 0; i < m.numel(); ++i)
        if (!std::isfinite(m.data<float>()[i])) return invalid_argument("Expected a finite encoderAttentionMask");
    }
    return Status::Ok();
  }

  Status prelude(const Tensor& x, const std::vector<float>& t, const Conditions& cond,
                 const IntermediateSink* o) override {
    DITTO_RETURN_IF_ERROR(validate(x, t, cond));
    const int64_t B = x.dim(0);
    height_ = x.dim(2);
    width_ = x.dim(3);
    const Tensor& text = cond.tensors[0];
    const bool masked = cond.tensors.size() == 2 && cond.tensors[1].ndim() != 0;
    text_len_ = text.dim(1);
    DITTO_RETURN_IF_ERROR(ensure_workspace(B));
    const int64_t D = c_.hidden, T = tokens(), L = text_len_;
    ThreadPool& tp = *pool_;

    // Patch embedding + position table.
    float* h = ws_.h.data<float>();
    float* patches = ws_.scratch.data<float>();
    cpu::patchify(x.data<float>(), B, c_.in_channels, height_, width_, c_.patch, patches);
    family::apply(tp, w_.patch_embed, patches, B * T, patch_features(), h, D);
    const float* pos = pos_table();
    tp.parallel_for(B * T, [&](int64_t r, int) {
      const float* p = pos + (r % T) * D;
      for (int64_t j = 0; j < D; ++j) h[r * D + j] += p[j];
    });
    emit(o, "pos_embed.table", pos, {1, T, D});
    emit(o, "pos_embed.out", h, {B, T, D});

    // adaLN-single.
    float* t_freq = ws_.t_freq.data<float>();
    cpu::timestep_embedding(t.data(), B, kTimestepFeatures, 10000.f, 0.f, true, t_freq);
    emit(o, "t_freq", t_freq, {B, kTimestepFeatures});
    cpu::Epilogue silu;
    silu.activation = cpu::Activation::Silu;
    float* t_hidden = ws_.t_hidden.data<float>();
    float* emb = ws_.temb.data<float>();
    float* t6 = ws_.t6.data<float>();
    family::apply(tp, w_.t_fc1, t_freq, B, kTimestepFeatures, t_hidden, D, silu);
    family::apply(tp, w_.t_fc2, t_hidden, B, D, emb, D);
    emit(o, "adaln_single.embedded_timestep", emb, {B, D});
    cpu::silu(tp, emb, t_hidden, B * D);
    family::apply(tp, w_.adaln, t_hidden, B, D, t6, 6 * D);
    emit(o, "adaln_single.out", t6, {B, 6 * D});
    // Every block's modulation rows (table_i + t6) and the final (shift, scale) = table + embedded_timestep.
    family::modulation_rows(w_.blocks, w_.final_table.data(), t6, emb, B, D, ws_.mods.data<float>(),
                            ws_.final_mod.data<float>());

    // Text: mask bias, then the caption projection and every block's K/V unless cached for this very text.
    mask_bias_.assign(static_cast<size_t>(masked ? B * L : 0), 0.f);
    for (int64_t i = 0; masked && i < B * L; ++i)
      mask_bias_[i] = (1.f - cond.tensors[1].data<float>()[i]) * kMaskBias;
    text_computed_ = kv_.update({&text});
    if (text_computed_)
      family::embed_text(tp, w_.cap1, w_.cap2, text.data<float>(), B * L, c_.caption_channels, D, w_.blocks, context_,
                         kv_, [](int64_t, float*) {});
    ws_bytes_.store(workspace_bytes(), std::memory_order_relaxed);
    emit(o, "caption_projection.out", context_.data(), {B, L, D});
    return Status::Ok();
  }

  Status block(int64_t index, int64_t b0, int64_t B, bool perturb) override {
    const int64_t D = c_.hidden, T = tokens(), L = text_len_, rows = B * T, H = c_.heads, Dh = c_.head_dim;
    const Block& bw = w_.blocks[static_cast<size_t>(index)];
    ThreadPool& tp = *pool_;
    const int64_t stride = c_.depth * 6 * D;
    const float* mod = ws_.mods.data<float>() + (b0 * c_.depth + index) * 6 * D;
    float* h = ws_.h.data<float>() + b0 * T * D;
    float* xn = ws_.xn.data<float>();
    float* qkv = ws_.scratch.data<float>();
    float* attn = ws_.attn.data<float>();
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(Dh)));

    // Self-attention, gated.
    cpu::layer_norm(tp, h, xn, rows, D, static_cast<float>(c_.norm_eps), nullptr, nullptr,
                    cpu::Modulation{mod + 0 * D, mod + 1 * D, T, stride});
    family::apply(tp, bw.qkv, xn, rows, D, qkv, 3 * D);
    if (perturb) {
      tp.parallel_for(rows, [&](int64_t r, int) {
        std::memcpy(attn + r * D, qkv + r * 3 * D + 2 * D, static_cast<size_t>(D) * sizeof(float));
      });
    } else {
      cpu::attention(tp, family::fused_self_attention(B, T, H, Dh, qkv, attn, scale));
    }
    family::apply(tp, bw.self_out, attn, rows, D, h, D, family::gated(mod + 2 * D, T, stride));

    // Cross-attention to the text on the un-normalised h, plain residual.
    family::apply(tp, bw.q, h, rows, D, xn, D);
    const float* kv = kv_.key_values[static_cast<size_t>(index)].data() + b0 * L * 2 * D;
    cpu::AttentionArgs x = family::cross_attention(B, T, L, H, Dh, xn, kv, attn, scale);
    x.key_bias = mask_bias_.empty() ? nullptr : mask_bias_.data() + b0 * L;
    cpu::attention(tp, x);
    family::apply(tp, bw.cross_out, attn, rows, D, h, D, family::gated(ones_.data(), rows, 0));

    // Feed-forward, gated.
    gated_ffn(h, rows, mod, stride, static_cast<float>(c_.norm_eps), bw.ff1, bw.ff2);
    return Status::Ok();
  }

  Result<Tensor> final(int64_t B, const IntermediateSink* o) override {
    const float* out_tokens = final_tokens(B, static_cast<float>(c_.norm_eps), w_.proj_out, out_features(), o);
    DITTO_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::F32, {B, c_.out_channels, height_, width_}));
    cpu::unpatchify(out_tokens, B, c_.out_channels, height_, width_, c_.patch, out.data<float>());
    return out;
  }

 private:
  friend class family::TextModel<Config, Weights>;  // create_model constructs it

  int64_t tokens() const override { return (height_ / c_.patch) * (width_ / c_.patch); }
  int64_t patch_features() const { return c_.in_channels * c_.patch * c_.patch; }
  int64_t out_features() const { return c_.out_channels * c_.patch * c_.patch; }

  // MACs per sample at the current size; `with_text`: the caption projection and every block's K/V ran.
  PartMacs macs_at(bool with_text) const override {
    const uint64_t D = c_.hidden, T = tokens(), L = text_len_, F = c_.ff_hidden;
    PartMacs m;
    m.prelude = T * patch_features() * D + kTimestepFeatures * D + D * D + D * 6 * D;
    if (with_text) m.prelude += L * c_.caption_channels * D + L * D * D + c_.depth * L * D * 2 * D;
    const uint64_t block = T * D * 3 * D + 2 * T * T * D + T * D * D  // self-attention
                           + T * D * D + 2 * T * L * D + T * D * D    // cross-attention (q, attention, out)
                           + 2 * T * D * F;                           // feed-forward
    m.block.assign(static_cast<size_t>(c_.depth), block);
    m.final = T * D * out_features();
    return m;
  }

  ModelInfo make_info() const {
    ModelInfo info;
    info.family = "pixart";
    info.layout = "diffusers";
    info.inputs = {{"x", {-1, c_.in_channels, -1, -1}, DType::F32}, {"t", {-1}, DType::F32}};
    info.conditions = {{"encoderHiddenStates", {-1, -1, c_.caption_channels}, DType::F32},
                       {"encoderAttentionMask", {-1, -1}, DType::F32, true}};
    info.outputs = {{"out", {-1, c_.out_channels, -1, -1}, DType::F32}};
    auto num = [](int64_t v) { return static_cast<double>(v); };
    info.fields = {{"hiddenSize", num(c_.hidden)},         {"numHeads", num(c_.heads)},
                   {"headDim", num(c_.head_dim)},          {"depth", num(c_.depth)},
                   {"inChannels", num(c_.in_channels)},    {"outChannels", num(c_.out_channels)},
                   {"patchSize", num(c_.patch)},           {"captionChannels", num(c_.caption_channels)},
                   {"ffHidden", num(c_.ff_hidden)},        {"sampleSize", num(c_.sample_size)},
                   {"interpolationScale", c_.interpolation_scale}, {"normEps", c_.norm_eps}};
    info.config_path = c_.config_path;
    info.config_json = c_.config_json;
    return info;
  }

  // diffusers get_2d_sincos_pos_embed(D, (gh, gw), base_size = sample_size / p, interpolation_scale).
  const float* pos_table() {
    const int64_t gh = height_ / c_.patch, gw = width_ / c_.patch;
    if (pos_h_ != gh || pos_w_ != gw) {
      const double base = static_cast<double>(c_.sample_size / c_.patch);
      pos_.assign(static_cast<size_t>(gh * gw * c_.hidden), 0.f);
      cpu::sincos_2d_table(gh, gw, c_.hidden, gh / base * c_.interpolation_scale, gw / base * c_.interpolation_scale,
                           pos_.data());
      pos_h_ = gh;
      pos_w_ = gw;
    }
    return pos_.data();
  }

  Status ensure_workspace(int64_t B) {
    const int64_t D = c_.hidden;
    return ws_.ensure(B, B * tokens(), D, c_.depth, std::max({3 * D, c_.ff_hidden, patch_features(), out_features()}),
                      kTimestepFeatures);
  }

  uint64_t workspace_bytes() const { return text_model_bytes() + (mask_bias_.size() + pos_.size()) * sizeof(float); }

  explicit PixArtModel(int threads) : TextModel(threads) {}

  HostVector<float> mask_bias_, pos_;  // counted engine memory (ditto/memory.h)
  int64_t height_ = 0, width_ = 0, pos_h_ = -1, pos_w_ = -1;
};

}  // namespace

Status detect(const SafetensorsFile& weights) { return family::detect(weights, kKeys); }

FamilyLoader cpu_loader() {
  FamilyLoader f;
  f.family = "pixart";
  f.backend = "cpu";
  f.detect = detect;
  f.load = [](std::shared_ptr<SafetensorsFile> weights, const ModelFiles& files,
              const LoadOptions& options) -> Result<std::unique_ptr<Denoiser>> {
    DITTO_ASSIGN_OR_RETURN(family::ConfigKwargs kw, family::ConfigKwargs::read(files.config));
    DITTO_ASSIGN_OR_RETURN(std::string layout, family::resolve_layout(*weights, kw, kKeys));
    (void)layout;  // one layout
    DITTO_ASSIGN_OR_RETURN(Config config, parse_config(*weights, files.config));
    return PixArtModel::create(*weights, config, options);
  };
  return f;
}

}  // namespace ditto::pixart

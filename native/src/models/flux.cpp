// Flux (black-forest-labs/flux flux.model.Flux; diffusers FluxTransformer2DModel; golden README "flux") on the CPU,
// from either key layout (official / ComfyUI: double_blocks, single_blocks, img_in, ...; diffusers:
// transformer_blocks, single_transformer_blocks, x_embedder, ...), detected from the tensor names or forced by
// config.json's "layout"; both load into the same weights, so the forward has no layout branches:
//   prelude  x (packed 2×2 latents [B, L_img, 4c]) -> x_embedder; encoder_hidden_states -> context_embedder;
//            temb = MLP_t(sinusoid(1000·t)) [+ MLP_g(sinusoid(1000·guidance))] + MLP_text(pooled); every
//            modulation = one GEMM on SiLU(temb); RoPE tables from ids = [txt_ids, img_ids] over the three axes
//            (axes_dims_rope; per axis d: ω_j = 10000^(−2j/d), angle = pos·ω_j in float64, cast to float32).
//   blocks   double blocks (joint, [txt, img] order) then single blocks on the joint sequence (mmdit_blocks.h).
//   final    norm_out (AdaLayerNormContinuous: scale, shift; the official final_layer's (shift, scale) rows are
//            swapped at load) on the image tokens -> proj_out, output packed like x.
// t is sigma in [0, 1] and guidance the raw scale: the model multiplies both by 1000 in float32.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ditto/cpu/elementwise.h"
#include "ditto/cpu/embed.h"
#include "ditto/cpu/finite.h"
#include "ditto/cpu/norms.h"
#include "models/families.h"
#include "models/family_config.h"
#include "models/mmdit_blocks.h"

namespace ditto {
namespace {

using namespace mmdit;
constexpr int64_t kFreq = 256;

enum class FluxLayout { Official, Diffusers };

// Checkpoint names of one layout.
struct FluxNames {
  const char *x_in, *ctx_in, *t1, *t2, *g1, *g2, *y1, *y2, *double_prefix, *single_prefix, *final_mod, *final_linear;
};
const FluxNames kOfficial = {"img_in", "txt_in", "time_in.in_layer", "time_in.out_layer", "guidance_in.in_layer",
                             "guidance_in.out_layer", "vector_in.in_layer", "vector_in.out_layer", "double_blocks",
                             "single_blocks", "final_layer.adaLN_modulation.1", "final_layer.linear"};
const FluxNames kDiffusers = {"x_embedder", "context_embedder", "time_text_embed.timestep_embedder.linear_1",
                              "time_text_embed.timestep_embedder.linear_2", "time_text_embed.guidance_embedder.linear_1",
                              "time_text_embed.guidance_embedder.linear_2", "time_text_embed.text_embedder.linear_1",
                              "time_text_embed.text_embedder.linear_2", "transformer_blocks", "single_transformer_blocks",
                              "norm_out.linear", "proj_out"};

struct FluxWeights {
  FluxLayout layout = FluxLayout::Diffusers;
  int64_t D = 0, in_channels = 0, out_channels = 0, joint_dim = 0, pooled_dim = 0, head_dim = 0, mod_cols = 0;
  int64_t norm_out_col = 0;
  std::vector<int64_t> axes;
  bool guidance = false;
  Linear x_in, ctx_in, t1, t2, g1, g2, y1, y2, modulation, proj_out;
  std::vector<JointBlockWeights> doubles;
  std::vector<SingleBlockWeights> singles;
};

// Layout from the tensor names; kUnsupportedModel naming what was looked for and what the file holds.
Result<FluxLayout> detect_layout(const SafetensorsFile& f) {
  if (f.has("img_in.weight") && f.has("double_blocks.0.img_attn.qkv.weight")) return FluxLayout::Official;
  if (f.has("x_embedder.weight") && f.has("transformer_blocks.0.attn.add_q_proj.weight") &&
      f.has("transformer_blocks.0.norm1_context.linear.weight") && !f.has("pos_embed.pos_embed"))
    return FluxLayout::Diffusers;
  std::string held;
  int shown = 0;
  for (const auto& e : f.entries()) {
    if (shown == 6) {
      held += ", ...";
      break;
    }
    held += (shown++ ? ", " : "") + e.name;
  }
  return unsupported_model("Unsupported model: \"" + f.path() +
                           "\" is not a Flux checkpoint in a known layout (official: img_in.weight + "
                           "double_blocks.0.img_attn.qkv.weight; diffusers: x_embedder.weight + "
                           "transformer_blocks.0.attn.add_q_proj.weight); unmatched tensors: " + held);
}

Result<FluxWeights> load_flux(const SafetensorsFile& file, const FamilyKwargs& kw, DType dtype) {
  FluxWeights w;
  DITTO_ASSIGN_OR_RETURN(std::string forced, kw.string("layout", ""));
  if (forced == "official") {
    w.layout = FluxLayout::Official;
  } else if (forced == "diffusers") {
    w.layout = FluxLayout::Diffusers;
  } else if (forced.empty()) {
    DITTO_ASSIGN_OR_RETURN(w.layout, detect_layout(file));
  } else {
    return kw.error("\"layout\" must be \"official\" or \"diffusers\", got \"" + forced + "\"");
  }
  const bool official = w.layout == FluxLayout::Official;
  const FluxNames& n = official ? kOfficial : kDiffusers;
  WeightReader r(file, official ? "official black-forest-labs Flux" : "diffusers FluxTransformer2DModel", dtype);
  const std::string x_in = n.x_in;
  DITTO_ASSIGN_OR_RETURN(Shape xs, r.shape(x_in + ".weight"));
  if (xs.size() != 2) return r.missing(x_in + ".weight");
  w.D = xs[0];
  w.in_channels = xs[1];
  const int64_t D = w.D;
  DITTO_ASSIGN_OR_RETURN(w.x_in, r.linear({x_in}, w.in_channels));
  DITTO_ASSIGN_OR_RETURN(Shape cs, r.shape(std::string(n.ctx_in) + ".weight"));
  w.joint_dim = cs.size() == 2 ? cs[1] : 0;
  DITTO_ASSIGN_OR_RETURN(w.ctx_in, r.linear({n.ctx_in}, w.joint_dim));
  DITTO_ASSIGN_OR_RETURN(w.t1, r.linear({n.t1}, kFreq));
  DITTO_ASSIGN_OR_RETURN(w.t2, r.linear({n.t2}, D));
  w.guidance = r.has(std::string(n.g1) + ".weight");
  if (w.guidance) {
    DITTO_ASSIGN_OR_RETURN(w.g1, r.linear({n.g1}, kFreq));
    DITTO_ASSIGN_OR_RETURN(w.g2, r.linear({n.g2}, D));
  }
  DITTO_ASSIGN_OR_RETURN(Shape ys, r.shape(std::string(n.y1) + ".weight"));
  w.pooled_dim = ys.size() == 2 ? ys[1] : 0;
  DITTO_ASSIGN_OR_RETURN(w.y1, r.linear({n.y1}, w.pooled_dim));
  DITTO_ASSIGN_OR_RETURN(w.y2, r.linear({n.y2}, D));

  const std::string dp = n.double_prefix, sp = n.single_prefix;
  const std::string qn = official ? dp + ".0.img_attn.norm.query_norm.scale" : dp + ".0.attn.norm_q.weight";
  DITTO_ASSIGN_OR_RETURN(Shape qs, r.shape(qn));
  w.head_dim = qs.size() == 1 ? qs[0] : 0;
  if (w.head_dim <= 0 || w.head_dim % 2 != 0 || D % w.head_dim != 0)
    return model_load_error("Tensor \"" + qn + "\" in \"" + file.path() + "\" has shape " + shape_string(qs) +
                            " but an even head size dividing the width " + std::to_string(D) + " was expected");
  const std::vector<int64_t> default_axes =
      w.head_dim == 128 ? std::vector<int64_t>{16, 56, 56} : std::vector<int64_t>{};
  DITTO_ASSIGN_OR_RETURN(w.axes, kw.int_list("axes_dims_rope", default_axes));
  int64_t axes_sum = 0;
  for (int64_t a : w.axes) axes_sum += a % 2 == 0 ? a : -(int64_t{1} << 40);
  if (w.axes.size() != 3 || axes_sum != w.head_dim)
    return kw.error("\"axes_dims_rope\" must be three even sizes (one per id column) summing to the head size " + std::to_string(w.head_dim) +
                    (w.axes.empty() ? " (it is absent and the head size is not Flux's 128)" : ""));

  int64_t col = 0;
  std::vector<std::string> mod_parts;
  auto mod = [&](const std::string& prefix, int64_t rows) -> Result<int64_t> {
    DITTO_ASSIGN_OR_RETURN(Shape s, r.shape(prefix + ".weight"));
    if (s != Shape{rows, D})
      return model_load_error("Tensor \"" + prefix + ".weight\" in \"" + file.path() + "\" has shape " +
                              shape_string(s) + " but " + shape_string({rows, D}) + " was expected");
    mod_parts.push_back(prefix);
    const int64_t at = col;
    col += rows;
    return at;
  };
  auto vec = [&](const std::string& name) { return r.vector(name, {w.head_dim}); };
  for (int64_t i = 0; r.has(dp + "." + std::to_string(i) + (official ? ".img_mod.lin.weight" : ".norm1.linear.weight")); ++i) {
    const std::string p = dp + "." + std::to_string(i) + ".";
    JointBlockWeights b;
    if (official) {
      DITTO_ASSIGN_OR_RETURN(b.img.mod_col, mod(p + "img_mod.lin", 6 * D));
      DITTO_ASSIGN_OR_RETURN(b.txt.mod_col, mod(p + "txt_mod.lin", 6 * D));
      DITTO_ASSIGN_OR_RETURN(b.img.qkv, r.linear({p + "img_attn.qkv"}, D));
      DITTO_ASSIGN_OR_RETURN(b.txt.qkv, r.linear({p + "txt_attn.qkv"}, D));
      DITTO_ASSIGN_OR_RETURN(b.img.norm_q, vec(p + "img_attn.norm.query_norm.scale"));
      DITTO_ASSIGN_OR_RETURN(b.img.norm_k, vec(p + "img_attn.norm.key_norm.scale"));
      DITTO_ASSIGN_OR_RETURN(b.txt.norm_q, vec(p + "txt_attn.norm.query_norm.scale"));
      DITTO_ASSIGN_OR_RETURN(b.txt.norm_k, vec(p + "txt_attn.norm.key_norm.scale"));
      DITTO_ASSIGN_OR_RETURN(b.img.out, r.linear({p + "img_attn.proj"}, D));
      DITTO_ASSIGN_OR_RETURN(b.txt.out, r.linear({p + "txt_attn.proj"}, D));
      DITTO_ASSIGN_OR_RETURN(b.img.ff1, r.linear({p + "img_mlp.0"}, D));
      DITTO_ASSIGN_OR_RETURN(b.img.ff2, r.linear({p + "img_mlp.2"}, b.img.ff1.out()));
      DITTO_ASSIGN_OR_RETURN(b.txt.ff1, r.linear({p + "txt_mlp.0"}, D));
      DITTO_ASSIGN_OR_RETURN(b.txt.ff2, r.linear({p + "txt_mlp.2"}, b.txt.ff1.out()));
    } else {
      DITTO_ASSIGN_OR_RETURN(b.img.mod_col, mod(p + "norm1.linear", 6 * D));
      DITTO_ASSIGN_OR_RETURN(b.txt.mod_col, mod(p + "norm1_context.linear", 6 * D));
      DITTO_ASSIGN_OR_RETURN(b.img.qkv, r.linear({p + "attn.to_q", p + "attn.to_k", p + "attn.to_v"}, D));
      DITTO_ASSIGN_OR_RETURN(b.txt.qkv, r.linear({p + "attn.add_q_proj", p + "attn.add_k_proj", p + "attn.add_v_proj"}, D));
      DITTO_ASSIGN_OR_RETURN(b.img.norm_q, vec(p + "attn.norm_q.weight"));
      DITTO_ASSIGN_OR_RETURN(b.img.norm_k, vec(p + "attn.norm_k.weight"));
      DITTO_ASSIGN_OR_RETURN(b.txt.norm_q, vec(p + "attn.norm_added_q.weight"));
      DITTO_ASSIGN_OR_RETURN(b.txt.norm_k, vec(p + "attn.norm_added_k.weight"));
      DITTO_ASSIGN_OR_RETURN(b.img.out, r.linear({p + "attn.to_out.0"}, D));
      DITTO_ASSIGN_OR_RETURN(b.txt.out, r.linear({p + "attn.to_add_out"}, D));
      DITTO_ASSIGN_OR_RETURN(b.img.ff1, r.linear({p + "ff.net.0.proj"}, D));
      DITTO_ASSIGN_OR_RETURN(b.img.ff2, r.linear({p + "ff.net.2"}, b.img.ff1.out()));
      DITTO_ASSIGN_OR_RETURN(b.txt.ff1, r.linear({p + "ff_context.net.0.proj"}, D));
      DITTO_ASSIGN_OR_RETURN(b.txt.ff2, r.linear({p + "ff_context.net.2"}, b.txt.ff1.out()));
    }
    if (b.img.qkv.out() != 3 * D || b.txt.qkv.out() != 3 * D)
      return model_load_error("The q|k|v projections of " + p + " in \"" + file.path() + "\" are not [3·" +
                              std::to_string(D) + ", " + std::to_string(D) + "]");
    w.doubles.push_back(std::move(b));
  }
  for (int64_t i = 0; r.has(sp + "." + std::to_string(i) + (official ? ".linear1.weight" : ".proj_mlp.weight")); ++i) {
    const std::string p = sp + "." + std::to_string(i) + ".";
    SingleBlockWeights b;
    if (official) {
      DITTO_ASSIGN_OR_RETURN(b.mod_col, mod(p + "modulation.lin", 3 * D));
      DITTO_ASSIGN_OR_RETURN(b.qkv_mlp, r.linear({p + "linear1"}, D));
      DITTO_ASSIGN_OR_RETURN(b.norm_q, vec(p + "norm.query_norm.scale"));
      DITTO_ASSIGN_OR_RETURN(b.norm_k, vec(p + "norm.key_norm.scale"));
    } else {
      DITTO_ASSIGN_OR_RETURN(b.mod_col, mod(p + "norm.linear", 3 * D));
      DITTO_ASSIGN_OR_RETURN(b.qkv_mlp, r.linear({p + "attn.to_q", p + "attn.to_k", p + "attn.to_v", p + "proj_mlp"}, D));
      DITTO_ASSIGN_OR_RETURN(b.norm_q, vec(p + "attn.norm_q.weight"));
      DITTO_ASSIGN_OR_RETURN(b.norm_k, vec(p + "attn.norm_k.weight"));
    }
    b.mlp_hidden = b.qkv_mlp.out() - 3 * D;
    if (b.mlp_hidden <= 0)
      return model_load_error("The single block " + p + " in \"" + file.path() + "\" has no MLP rows after q|k|v");
    DITTO_ASSIGN_OR_RETURN(b.out, r.linear({p + (official ? "linear2" : "proj_out")}, D + b.mlp_hidden));
    w.singles.push_back(std::move(b));
  }
  if (w.doubles.empty() && w.singles.empty()) return r.missing(dp + ".0." + (official ? "img_mod.lin.weight" : "norm1.linear.weight"));
  w.norm_out_col = col;
  mod_parts.push_back(n.final_mod);
  DITTO_ASSIGN_OR_RETURN(HostLinear m, r.host(mod_parts, D));
  if (m.n != col + 2 * D)
    return model_load_error("Tensor \"" + std::string(n.final_mod) + ".weight\" in \"" + file.path() +
                            "\" must have " + std::to_string(2 * D) + " rows");
  if (official) {  // final_layer chunks (shift, scale); the engine reads (scale, shift) like norm_out
    for (int64_t j = 0; j < D; ++j) {
      std::swap_ranges(m.weight.begin() + (col + j) * D, m.weight.begin() + (col + j + 1) * D,
                       m.weight.begin() + (col + D + j) * D);
      std::swap(m.bias[static_cast<size_t>(col + j)], m.bias[static_cast<size_t>(col + D + j)]);
    }
  }
  w.mod_cols = m.n;
  DITTO_ASSIGN_OR_RETURN(w.modulation, r.pack(std::move(m)));
  DITTO_ASSIGN_OR_RETURN(w.proj_out, r.linear({n.final_linear}, D));
  w.out_channels = w.proj_out.out();
  return w;
}

// A per-sample id tensor: [B, L, 3] or [L, 3] shared by the batch.
Status check_ids(const Tensor& ids, const char* name, int64_t B, int64_t L) {
  const bool ok = ids.dtype() == DType::F32 && ((ids.ndim() == 3 && ids.dim(0) == B && ids.dim(1) == L && ids.dim(2) == 3) ||
                                                (ids.ndim() == 2 && ids.dim(0) == L && ids.dim(1) == 3));
  if (ok) return Status::Ok();
  return invalid_argument(std::string("Expected ") + name + " of dtype F32 and shape [" + std::to_string(B) + ", " +
                          std::to_string(L) + ", 3] (or [" + std::to_string(L) + ", 3]) but received " +
                          dtype_name(ids.dtype()) + " " + shape_string(ids.shape()));
}

class FluxModel final : public CpuJointModel {
 public:
  static Result<std::unique_ptr<Denoiser>> load(const SafetensorsFile& file, const ModelFiles& files,
                                                const LoadOptions& options) {
    return load_joint<FluxModel>(file, files, options, load_flux);
  }

  Status validate(const Tensor& x, const std::vector<float>& t, const Conditions& c) override {
    if (x.dtype() != DType::F32 || x.ndim() != 3 || x.dim(0) < 1 || x.dim(1) < 1 || x.dim(2) != w_.in_channels)
      return invalid_argument("Expected x of dtype F32 and shape [B, L, " + std::to_string(w_.in_channels) +
                              "] (packed 2x2 latents) but received " + dtype_name(x.dtype()) + " " +
                              shape_string(x.shape()));
    const int64_t B = x.dim(0), L = x.dim(1);
    DITTO_RETURN_IF_ERROR(check_timesteps(B, t));
    if (c.tensors.size() < 4 || (w_.guidance && c.tensors.size() < 5))
      return invalid_argument(std::string("Flux needs the conditions encoderHiddenStates, pooledProjections, imgIds, "
                                          "txtIds") + (w_.guidance ? " and guidance" : ""));
    DITTO_RETURN_IF_ERROR(check_text(c, B));
    DITTO_RETURN_IF_ERROR(check_ids(c.tensors[2], "imgIds", B, L));
    DITTO_RETURN_IF_ERROR(check_ids(c.tensors[3], "txtIds", B, c.tensors[0].dim(1)));
    if (w_.guidance) {
      const Tensor& g = c.tensors[4];
      if (g.dtype() != DType::F32 || g.shape() != Shape{B})
        return invalid_argument("Expected guidance of dtype F32 and shape [" + std::to_string(B) +
                                "] but received " + dtype_name(g.dtype()) + " " + shape_string(g.shape()));
      for (int64_t i = 0; i < B; ++i)
        if (!std::isfinite(g.data<float>()[i]))
          return invalid_argument("Expected finite guidance but guidance[" + std::to_string(i) + "] is " +
                                  std::to_string(g.data<float>()[i]));
    }
    return Status::Ok();
  }

  Status prelude(const Tensor& x, const std::vector<float>& t, const Conditions& c,
                 const IntermediateSink* o) override {
    DITTO_RETURN_IF_ERROR(validate(x, t, c));
    const int64_t B = x.dim(0), L = x.dim(1), D = w_.D;
    const Tensor& ehs = c.tensors[0];
    const int64_t Lt = ehs.dim(1);
    set_geometry(L, Lt);
    const int64_t S = geometry_.seq(), half = w_.head_dim / 2;
    int64_t hm = 0, ff = 0;
    for (const auto& b : w_.singles) hm = std::max(hm, b.mlp_hidden);
    for (const auto& b : w_.doubles) ff = std::max({ff, b.img.ff1.out(), b.txt.ff1.out()});
    DITTO_RETURN_IF_ERROR(ensure_workspace(ws_, B, S, 0, D, 3 * D + hm, std::max(D + hm, w_.out_channels), ff,
                                           w_.mod_cols, half));
    embed_.resize(static_cast<size_t>(B * (2 * kFreq + 5 * D + 2)));
    ThreadPool& tp = *pool_;
    float* h = ws_.h.data<float>();

    cpu::Epilogue ex;
    ex.bias = w_.x_in.bias.data();
    cpu::Epilogue ec;
    ec.bias = w_.ctx_in.bias.data();
    text_macs_computed_ = 0;
    text_rows_ = B;
    for (int64_t b = 0; b < B; ++b) {  // [txt, img]; the text rows computed once per generation (TextMemo)
      const float* src = ehs.data<float>() + b * Lt * w_.joint_dim;
      float* dst = h + b * S * D;
      if (!memo_.run(b, 0, src, Lt * w_.joint_dim, dst, Lt * D,
                     [&] { cpu::linear(tp, src, Lt, w_.joint_dim, w_.ctx_in.weight, dst, D, ec); }))
        text_macs_computed_ += context_macs(Lt);
      cpu::linear(tp, x.data<float>() + b * L * w_.in_channels, L, w_.in_channels, w_.x_in.weight,
                  h + (b * S + Lt) * D, D, ex);
    }
    if (o) {
      emit_stream(*o, "x_embedder.out", h, B, S, Lt, L, D);
      emit_stream(*o, "context_embedder.out", h, B, S, 0, Lt, D);
    }

    float* t1000 = embed_.data();
    float* g1000 = t1000 + B;
    float* t_freq = g1000 + B;
    float* g_freq = t_freq + B * kFreq;
    float* tmp = g_freq + B * kFreq;
    float* temb = tmp + B * D;
    float* t_emb = temb + B * D;
    float* g_emb = t_emb + B * D;
    float* y_emb = g_emb + B * D;
    for (int64_t i = 0; i < B; ++i) t1000[i] = t[static_cast<size_t>(i)] * 1000.f;
    cpu::timestep_embedding(t1000, B, kFreq, 10000.f, 0.f, true, t_freq);
    mlp_silu(tp, t_freq, B, w_.t1, w_.t2, tmp, t_emb);
    for (int64_t b = 0; b < B; ++b) {  // one row at a time, so a memoised row is bit-identical to a recomputed one
      const float* pooled = c.tensors[1].data<float>() + b * w_.pooled_dim;
      if (!memo_.run(b, 1, pooled, w_.pooled_dim, y_emb + b * D, D,
                     [&] { mlp_silu(tp, pooled, 1, w_.y1, w_.y2, tmp, y_emb + b * D); }))
        text_macs_computed_ += pooled_macs();
    }
    if (w_.guidance) {
      for (int64_t i = 0; i < B; ++i) g1000[i] = c.tensors[4].data<float>()[i] * 1000.f;
      cpu::timestep_embedding(g1000, B, kFreq, 10000.f, 0.f, true, g_freq);
      mlp_silu(tp, g_freq, B, w_.g1, w_.g2, tmp, g_emb);
    }
    for (int64_t i = 0; i < B * D; ++i) temb[i] = (w_.guidance ? t_emb[i] + g_emb[i] : t_emb[i]) + y_emb[i];
    if (o) {
      auto emit = [&](const char* name, float* p, Shape s) { (*o)(name, Tensor::borrow(nullptr, p, DType::F32, std::move(s))); };
      emit("timestep_x1000", t1000, {B});
      emit("t_freq", t_freq, {B, kFreq});
      emit("timestep_embedder.out", t_emb, {B, D});
      emit("text_embedder.out", y_emb, {B, D});
      if (w_.guidance) {
        emit("guidance_x1000", g1000, {B});
        emit("guidance_freq", g_freq, {B, kFreq});
        emit("guidance_embedder.out", g_emb, {B, D});
      }
      emit("temb", temb, {B, D});
    }
    cpu::silu(tp, temb, tmp, B * D);
    cpu::Epilogue em;
    em.bias = w_.modulation.bias.data();
    cpu::linear(tp, tmp, B, D, w_.modulation.weight, ws_.ada.data<float>(), w_.mod_cols, em);

    // RoPE tables per sample over [txt_ids, img_ids].
    float* cos = ws_.rope_cos.data<float>();
    float* sin = ws_.rope_sin.data<float>();
    const Tensor& img_ids = c.tensors[2];
    const Tensor& txt_ids = c.tensors[3];
    tp.parallel_for(B * S, [&](int64_t r, int) {
      const int64_t b = r / S, i = r % S;
      const bool txt = i < Lt;
      const Tensor& ids = txt ? txt_ids : img_ids;
      const int64_t row = txt ? i : i - Lt, len = txt ? Lt : L;
      const float* id = ids.data<float>() + ((ids.ndim() == 3 ? b * len : 0) + row) * 3;
      int64_t pair = 0;
      for (size_t a = 0; a < w_.axes.size(); ++a) {
        const int64_t d = w_.axes[a];
        for (int64_t j = 0; j < d / 2; ++j, ++pair) {
          const double omega = 1.0 / std::pow(10000.0, static_cast<double>(2 * j) / static_cast<double>(d));
          const double angle = static_cast<double>(id[a]) * omega;
          cos[r * half + pair] = static_cast<float>(std::cos(angle));
          sin[r * half + pair] = static_cast<float>(std::sin(angle));
        }
      }
    });
    ws_bytes_.store(ws_.bytes() + embed_.size() * sizeof(float) + memo_.bytes(), std::memory_order_relaxed);
    if (o) {  // the reference's tables repeat each frequency twice: (S, head_dim) for sample 0
      auto ct = Tensor::empty(DType::F32, {S, w_.head_dim});
      auto st = Tensor::empty(DType::F32, {S, w_.head_dim});
      if (ct.ok() && st.ok()) {
        for (int64_t i = 0; i < S * w_.head_dim; ++i) {
          ct.value().data<float>()[i] = cos[i / 2];
          st.value().data<float>()[i] = sin[i / 2];
        }
        (*o)("rope.cos", ct.value());
        (*o)("rope.sin", st.value());
      }
    }
    return Status::Ok();
  }

  Status block(int64_t index, int64_t first_row, int64_t rows, bool perturb) override {
    const int64_t nd = static_cast<int64_t>(w_.doubles.size());
    if (index < nd) {
      joint_block(*pool_, w_.doubles[static_cast<size_t>(index)], geometry_, ws_, true, first_row, rows, perturb);
    } else {
      single_block(*pool_, w_.singles[static_cast<size_t>(index - nd)], geometry_, ws_, true, first_row, rows, perturb);
    }
    return Status::Ok();
  }

  Result<Tensor> final(int64_t rows, const IntermediateSink* o) override {
    const int64_t D = w_.D, L = geometry_.img_tokens, Lt = geometry_.txt_tokens, S = geometry_.seq(), B = rows;
    ThreadPool& tp = *pool_;
    float* xn = ws_.xn.data<float>();
    const float* ada = ws_.ada.data<float>() + w_.norm_out_col;
    for (int64_t b = 0; b < B; ++b)  // (scale, shift)
      cpu::layer_norm(tp, ws_.h.data<float>() + (b * S + Lt) * D, xn + b * L * D, L, D, geometry_.norm_eps, nullptr,
                      nullptr, cpu::Modulation{ada + b * w_.mod_cols + D, ada + b * w_.mod_cols, L, 0});
    if (o) (*o)("norm_out.out", Tensor::borrow(nullptr, xn, DType::F32, {B, L, D}));
    DITTO_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::F32, {B, L, w_.out_channels}));
    cpu::Epilogue e;
    e.bias = w_.proj_out.bias.data();
    cpu::linear(tp, xn, B * L, D, w_.proj_out.weight, out.data<float>(), w_.out_channels, e);
    return out;
  }

  Status emit_block(int64_t index, int64_t rows, const IntermediateSink& sink) override {
    const int64_t nd = static_cast<int64_t>(w_.doubles.size());
    // Captures use the diffusers module names in both layouts, like every other Flux intermediate (golden io).
    const std::string name = index < nd ? "transformer_blocks." + std::to_string(index)
                                        : "single_transformer_blocks." + std::to_string(index - nd);
    const int64_t S = geometry_.seq(), D = w_.D, Lt = geometry_.txt_tokens;
    emit_stream(sink, name + ".out", ws_.h.data<float>(), rows, S, Lt, geometry_.img_tokens, D);
    emit_stream(sink, name + ".out_context", ws_.h.data<float>(), rows, S, 0, Lt, D);
    return Status::Ok();
  }

  PartMacs part_macs() const override { return macs_at(geometry_); }
  uint64_t attention_macs(int64_t index) const override {
    const uint64_t S = geometry_.seq();
    return 2 * S * S * static_cast<uint64_t>(w_.D);
  }

 private:
  friend class CpuJointModel;  // load_joint
  explicit FluxModel(int threads) : CpuJointModel(threads, StreamOrder::TextImage) {}

  // MACs per sample; the text part per CpuJointModel::text_macs.
  PartMacs macs_at(const JointGeometry& g, bool measured = true) const {
    const uint64_t D = w_.D, L = g.img_tokens;
    const uint64_t text = text_macs(g, measured);
    PartMacs m;
    m.prelude = L * w_.in_channels * D + text + (kFreq * D + D * D) * (w_.guidance ? 2 : 1) +
                D * static_cast<uint64_t>(w_.mod_cols);
    for (const auto& b : w_.doubles) m.block.push_back(joint_block_macs(b, g));
    for (const auto& b : w_.singles) m.block.push_back(single_block_macs(b, g));
    m.final = L * D * static_cast<uint64_t>(w_.out_channels);
    return m;
  }

  void describe(const FamilyKwargs& kw) {
    const bool official = w_.layout == FluxLayout::Official;
    info_.family = "flux";
    info_.layout = official ? "official" : "diffusers";
    info_.inputs = {{"x", {-1, -1, w_.in_channels}, DType::F32}, {"t", {-1}, DType::F32}};
    info_.conditions = {{"encoderHiddenStates", {-1, -1, w_.joint_dim}, DType::F32},
                        {"pooledProjections", {-1, w_.pooled_dim}, DType::F32},
                        {"imgIds", {-1, -1, 3}, DType::F32},
                        {"txtIds", {-1, -1, 3}, DType::F32}};
    if (w_.guidance) info_.conditions.push_back({"guidance", {-1}, DType::F32});
    info_.outputs = {{"out", {-1, -1, w_.out_channels}, DType::F32}};
    auto num = [](int64_t v) { return static_cast<double>(v); };
    std::string axes;
    for (int64_t a : w_.axes) {
      if (!axes.empty()) axes += ",";
      axes += std::to_string(a);
    }
    info_.fields = {{"inChannels", num(w_.in_channels)},
                    {"outChannels", num(w_.out_channels)},
                    {"hiddenSize", num(w_.D)},
                    {"numDoubleBlocks", num(static_cast<int64_t>(w_.doubles.size()))},
                    {"numSingleBlocks", num(static_cast<int64_t>(w_.singles.size()))},
                    {"depth", num(static_cast<int64_t>(w_.doubles.size() + w_.singles.size()))},
                    {"numHeads", num(w_.D / w_.head_dim)},
                    {"headDim", num(w_.head_dim)},
                    {"jointAttentionDim", num(w_.joint_dim)},
                    {"pooledProjectionDim", num(w_.pooled_dim)},
                    {"guidanceEmbeds", w_.guidance},
                    {"axesDimsRope", axes}};
    info_.config_path = kw.path();
    info_.config_json = kw.config_json();
    backbone_.lists = {{official ? "double_blocks" : "transformer_blocks", static_cast<int64_t>(w_.doubles.size())},
                       {official ? "single_blocks" : "single_transformer_blocks", static_cast<int64_t>(w_.singles.size())}};
    JointGeometry g = geometry_;
    set_geometry(64 * 64, 512);  // a 1024² image (64² packed tokens) with Flux-dev's 512 T5 tokens
    backbone_.macs = macs_at(geometry_, false);
    geometry_ = g;
    weight_bytes_ = 0;
    for (const Linear* l : {&w_.x_in, &w_.ctx_in, &w_.t1, &w_.t2, &w_.g1, &w_.g2, &w_.y1, &w_.y2, &w_.modulation,
                            &w_.proj_out})
      weight_bytes_ += l->bytes();
    for (const auto& b : w_.doubles)
      for (const Linear* l : {&b.img.qkv, &b.img.out, &b.img.ff1, &b.img.ff2, &b.txt.qkv, &b.txt.out, &b.txt.ff1, &b.txt.ff2})
        weight_bytes_ += l->bytes();
    for (const auto& b : w_.singles) weight_bytes_ += b.qkv_mlp.bytes() + b.out.bytes();
  }

  FluxWeights w_;
  std::vector<float> embed_;
  TextMemo memo_;
};

}  // namespace

namespace flux {

Status detect(const SafetensorsFile& weights) {
  auto layout = detect_layout(weights);
  return layout.ok() ? Status::Ok() : layout.status();
}

FamilyLoader cpu_loader() {
  FamilyLoader f;
  f.family = "flux";
  f.backend = "cpu";
  f.detect = detect;
  f.load = [](std::shared_ptr<SafetensorsFile> weights, const ModelFiles& files, const LoadOptions& options) {
    return FluxModel::load(*weights, files, options);
  };
  return f;
}

}  // namespace flux
}  // namespace ditto

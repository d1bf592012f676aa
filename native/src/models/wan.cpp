// Wan2.1 text-to-video DiT (Wan Team 2025, "Wan: Open and Advanced Large-Scale Video Generative Models";
// references Wan-Video/Wan2.1 wan/modules/model.py WanModel and diffusers WanTransformer3DModel,
// shared/golden/README.md "wan"), both key layouts (official / diffusers) detected from tensor names or named by
// the config's "layout":
//   prelude  3-D patchify [B,C,F,H,W] + patch Linear (Conv3d, stride = kernel) -> h;  t -> freq_dim sinusoid
//            [cos|sin] -> Linear,SiLU,Linear = temb -> Linear(SiLU(temb)) = 6 modulation rows per sample (block i
//            adds its scale_shift_table / modulation);  3-D RoPE angle tables over (frame, row, col) with the
//            head_dim split d-4(d/6) | 2(d/6) | 2(d/6) (44/42/42 at d = 128);  the text: Linear,GELU-tanh,Linear,
//            and every block's cross-attention K (RMSNorm across heads) and V — cached while the text is
//            unchanged (text_family.h CrossKvCache), so a generation computes them once.  No text mask (real Wan
//            attends to the zero-padded T5 rows).
//   block    LN+modulate -> q|k|v, RMSNorm of q and k over the whole inner dim, interleaved RoPE -> attention ->
//            out proj, gated;  affine LN -> cross-attention q (RMSNorm) against the cached K/V -> out proj, plain
//            residual;  LN+modulate -> FFN (GELU-tanh), gated.  LayerNorms eps from the config (1e-6).
//   final    LN, (table + temb) as (shift, scale), Linear, unpatchify (B,F',H',W',pt,ph,pw,C) -> (B,C,F,H,W).
// The official code computes the timestep sinusoid in float64; this file does so for official checkpoints and
// in float32 (diffusers' Timesteps) for diffusers ones.
#include "models/wan.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "cpu/norms_kernels.h"
#include "cpu/rope_kernels.h"
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

namespace ditto::wan {

RopeAxes rope_axes(int64_t head_dim) {
  const int64_t hw = 2 * (head_dim / 6);
  return {head_dim - 2 * hw, hw, hw};
}

void rope_tables(int64_t frames, int64_t rows, int64_t cols, int64_t head_dim, float* cos_out, float* sin_out) {
  const RopeAxes axes = rope_axes(head_dim);
  const int64_t dims[3] = {axes.frame, axes.row, axes.col};
  const int64_t pairs = head_dim / 2;
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t token = (f * rows + r) * cols + c;
        const int64_t pos[3] = {f, r, c};
        int64_t pair = 0;
        for (int a = 0; a < 3; ++a)
          for (int64_t j = 0; j < dims[a] / 2; ++j, ++pair) {
            // diffusers get_1d_rotary_pos_embed(freqs_dtype=float64): 1 / theta^(2j/d), angle in float64.
            const double omega = 1.0 / std::pow(10000.0, static_cast<double>(2 * j) / static_cast<double>(dims[a]));
            const double angle = static_cast<double>(pos[a]) * omega;
            cos_out[token * pairs + pair] = static_cast<float>(std::cos(angle));
            sin_out[token * pairs + pair] = static_cast<float>(std::sin(angle));
          }
      }
}

namespace {

enum class Layout { Diffusers, Official };

struct Config {
  Layout layout = Layout::Diffusers;
  int64_t hidden = 0, heads = 0, depth = 0, in_channels = 0, out_channels = 0, pt = 1, ph = 2, pw = 2;
  int64_t text_dim = 0, freq_dim = 0, ffn = 0;
  double eps = 1e-6;
  bool cross_norm = true, qk_norm = true;
  std::string config_path, config_json;
  int64_t head_dim() const { return hidden / heads; }
};

// Checkpoint names of one layout.
struct Names {
  std::string text1, text2, time1, time2, time_proj, head, head_table;
  std::string self_attn, cross_attn, q, k, v, o, cross_norm, ffn1, ffn2, table;
};
Names names(Layout l) {
  if (l == Layout::Official)
    return {"text_embedding.0", "text_embedding.2", "time_embedding.0", "time_embedding.2", "time_projection.1",
            "head.head",        "head.modulation",  "self_attn",        "cross_attn",       "q",
            "k",                "v",                "o",                "norm3",            "ffn.0",
            "ffn.2",            "modulation"};
  return {"condition_embedder.text_embedder.linear_1",
          "condition_embedder.text_embedder.linear_2",
          "condition_embedder.time_embedder.linear_1",
          "condition_embedder.time_embedder.linear_2",
          "condition_embedder.time_proj",
          "proj_out",
          "scale_shift_table",
          "attn1",
          "attn2",
          "to_q",
          "to_k",
          "to_v",
          "to_out.0",
          "norm2",
          "ffn.net.0.proj",
          "ffn.net.2",
          "scale_shift_table"};
}

std::vector<family::KeyLayout> layouts() {
  std::vector<family::KeyLayout> out;
  for (Layout l : {Layout::Diffusers, Layout::Official}) {
    const Names n = names(l);
    family::KeyLayout k;
    k.name = l == Layout::Official ? "official" : "diffusers";
    k.reference = l == Layout::Official ? "official Wan2.1 WanModel" : "diffusers WanTransformer3DModel";
    auto wb = [&](const std::string& p) {
      k.known.insert(p + ".weight");
      k.known.insert(p + ".bias");
    };
    for (const std::string& p : {std::string("patch_embedding"), n.text1, n.text2, n.time1, n.time2, n.time_proj, n.head})
      wb(p);
    k.known.insert(n.head_table);
    const std::string b = "blocks.#.";
    for (const std::string& a : {n.self_attn, n.cross_attn}) {
      for (const std::string& p : {n.q, n.k, n.v, n.o}) wb(b + a + "." + p);
      k.known.insert(b + a + ".norm_q.weight");
      k.known.insert(b + a + ".norm_k.weight");
    }
    wb(b + n.cross_norm);
    wb(b + n.ffn1);
    wb(b + n.ffn2);
    k.known.insert(b + n.table);
    k.required = {"patch_embedding.weight", n.time_proj + ".weight", n.text1 + ".weight", n.head + ".weight",
                  n.head_table, "blocks.0." + n.self_attn + "." + n.q + ".weight"};
    out.push_back(std::move(k));
  }
  return out;
}

const family::FamilyKeys kKeys{"Wan2.1", {"condition_embedder.time_proj.weight", "time_projection.1.weight"},
                               {"blocks"}, layouts};

struct Block {
  family::Linear qkv, self_out, q, kv, cross_out, ffn1, ffn2;
  HostVector<float> self_norm_q, self_norm_k, cross_norm_q, cross_norm_k;  // RMSNorm weights [D] (empty: none)
  HostVector<float> cross_ln_weight, cross_ln_bias;                        // affine LN [D] (empty: Identity)
  HostVector<float> table;                                                 // [6, D]
};

struct Weights {
  family::Linear patch_embed, text1, text2, time1, time2, time_proj, head;
  HostVector<float> head_table;  // [2, D]
  std::vector<Block> blocks;
  uint64_t bytes() const {
    uint64_t b = patch_embed.bytes() + text1.bytes() + text2.bytes() + time1.bytes() + time2.bytes() +
                 time_proj.bytes() + head.bytes() + head_table.size() * sizeof(float);
    for (const Block& k : blocks) {
      b += k.qkv.bytes() + k.self_out.bytes() + k.q.bytes() + k.kv.bytes() + k.cross_out.bytes() + k.ffn1.bytes() +
           k.ffn2.bytes();
      for (const auto* v : {&k.self_norm_q, &k.self_norm_k, &k.cross_norm_q, &k.cross_norm_k, &k.cross_ln_weight,
                            &k.cross_ln_bias, &k.table})
        b += v->size() * sizeof(float);
    }
    return b;
  }
};

Result<Config> parse_config(const SafetensorsFile& file, const family::ConfigKwargs& kw, Layout layout) {
  const Names n = names(layout);
  family::CheckpointReader r(file, layout == Layout::Official ? "official Wan2.1" : "diffusers Wan", DType::F32);
  Config c;
  c.layout = layout;
  DITTO_ASSIGN_OR_RETURN(Shape pe, r.shape("patch_embedding.weight"));
  if (pe.size() != 5)
    return model_load_error("Tensor \"patch_embedding.weight\" has shape " + shape_string(pe) +
                            " but a Conv3d weight [D, C, pt, ph, pw] was expected");
  c.hidden = pe[0];
  c.in_channels = pe[1];
  c.pt = pe[2];
  c.ph = pe[3];
  c.pw = pe[4];
  DITTO_ASSIGN_OR_RETURN(Shape t1, r.shape(n.text1 + ".weight"));
  DITTO_ASSIGN_OR_RETURN(Shape f1, r.shape(n.time1 + ".weight"));
  DITTO_ASSIGN_OR_RETURN(Shape ff, r.shape("blocks.0." + n.ffn1 + ".weight"));
  DITTO_ASSIGN_OR_RETURN(Shape hd, r.shape(n.head + ".weight"));
  if (t1.size() != 2 || f1.size() != 2 || ff.size() != 2 || hd.size() != 2 || hd[0] % (c.pt * c.ph * c.pw) != 0)
    return model_load_error("Wan checkpoint " + std::string("\"") + file.path() +
                            "\" has embedder / head weights of unexpected rank or width");
  c.text_dim = t1[1];
  c.freq_dim = f1[1];
  c.ffn = ff[0];
  c.out_channels = hd[0] / (c.pt * c.ph * c.pw);
  c.depth = family::count_blocks(file, "blocks");
  const int64_t default_heads = std::max<int64_t>(1, c.hidden / 128);
  const char* heads_key = kw.find("num_attention_heads") ? "num_attention_heads" : "num_heads";
  DITTO_ASSIGN_OR_RETURN(c.heads, kw.positive_int(heads_key, default_heads));
  if (c.hidden % c.heads != 0 || c.head_dim() % 2 != 0)
    return kw.error("the hidden size " + std::to_string(c.hidden) + " must split into " + std::to_string(c.heads) +
                    " heads of an even width");
  DITTO_ASSIGN_OR_RETURN(c.eps, kw.number("eps", 1e-6));
  if (c.freq_dim % 2 != 0) return kw.error("the timestep frequency width must be even");
  c.cross_norm = file.has("blocks.0." + n.cross_norm + ".weight");
  c.qk_norm = file.has("blocks.0." + n.self_attn + ".norm_q.weight");
  c.config_path = kw.path();
  c.config_json = kw.json();
  return c;
}

Result<Weights> load_weights(const SafetensorsFile& file, const Config& c, DType dtype) {
  const Names n = names(c.layout);
  family::CheckpointReader r(file, c.layout == Layout::Official ? "official Wan2.1" : "diffusers Wan", dtype);
  const int64_t D = c.hidden;
  Weights w;
  DITTO_ASSIGN_OR_RETURN(w.patch_embed, r.conv_as_linear("patch_embedding", {D, c.in_channels, c.pt, c.ph, c.pw}));
  DITTO_ASSIGN_OR_RETURN(w.text1, r.linear({n.text1}, c.text_dim));
  DITTO_ASSIGN_OR_RETURN(w.text2, r.linear({n.text2}, D));
  DITTO_ASSIGN_OR_RETURN(w.time1, r.linear({n.time1}, c.freq_dim));
  DITTO_ASSIGN_OR_RETURN(w.time2, r.linear({n.time2}, D));
  DITTO_ASSIGN_OR_RETURN(w.time_proj, r.linear({n.time_proj}, D));
  DITTO_ASSIGN_OR_RETURN(w.head, r.linear({n.head}, D));
  DITTO_ASSIGN_OR_RETURN(w.head_table, r.floats(n.head_table, {1, 2, D}));
  if (w.text1.out() != D || w.text2.out() != D || w.time1.out() != D || w.time2.out() != D ||
      w.time_proj.out() != 6 * D)
    return model_load_error("Wan embedders have the wrong widths for hidden size " + std::to_string(D));
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    const std::string sa = b + n.self_attn + ".", ca = b + n.cross_attn + ".";
    Block k;
    DITTO_ASSIGN_OR_RETURN(k.qkv, r.linear({sa + n.q, sa + n.k, sa + n.v}, D));
    DITTO_ASSIGN_OR_RETURN(k.self_out, r.linear({sa + n.o}, D));
    DITTO_ASSIGN_OR_RETURN(k.q, r.linear({ca + n.q}, D));
    DITTO_ASSIGN_OR_RETURN(k.kv, r.linear({ca + n.k, ca + n.v}, D));
    DITTO_ASSIGN_OR_RETURN(k.cross_out, r.linear({ca + n.o}, D));
    DITTO_ASSIGN_OR_RETURN(k.ffn1, r.linear({b + n.ffn1}, D));
    DITTO_ASSIGN_OR_RETURN(k.ffn2, r.linear({b + n.ffn2}, c.ffn));
    if (c.qk_norm) {
      DITTO_ASSIGN_OR_RETURN(k.self_norm_q, r.floats(sa + "norm_q.weight", {D}));
      DITTO_ASSIGN_OR_RETURN(k.self_norm_k, r.floats(sa + "norm_k.weight", {D}));
      DITTO_ASSIGN_OR_RETURN(k.cross_norm_q, r.floats(ca + "norm_q.weight", {D}));
      DITTO_ASSIGN_OR_RETURN(k.cross_norm_k, r.floats(ca + "norm_k.weight", {D}));
    }
    if (c.cross_norm) {
      DITTO_ASSIGN_OR_RETURN(k.cross_ln_weight, r.floats(b + n.cross_norm + ".weight", {D}));
      DITTO_ASSIGN_OR_RETURN(k.cross_ln_bias, r.floats(b + n.cross_norm + ".bias", {D}));
    }
    DITTO_ASSIGN_OR_RETURN(k.table, r.floats(b + n.table, {1, 6, D}));
    if (k.qkv.out() != 3 * D || k.kv.out() != 2 * D || k.q.out() != D || k.self_out.out() != D ||
        k.cross_out.out() != D || k.ffn1.out() != c.ffn || k.ffn2.out() != D)
      return model_load_error("Wan block " + std::to_string(i) + " has projections of the wrong width");
    w.blocks.push_back(std::move(k));
  }
  return w;
}

class WanModel final : public family::TextModel<Config, Weights> {
 public:
  static Result<std::unique_ptr<Denoiser>> create(const SafetensorsFile& file, const Config& c,
                                                  const LoadOptions& options) {
    DITTO_ASSIGN_OR_RETURN(auto m, create_model<WanModel>(file, c, options, "Wan", load_weights));
    m->info_ = m->make_info();
    m->backbone_.lists = {{"blocks", c.depth}};
    m->frames_ = c.pt;
    m->height_ = 16 * c.ph;
    m->width_ = 16 * c.pw;
    m->backbone_.macs = m->macs_at(true);
    return std::unique_ptr<Denoiser>(std::move(m));
  }

  // ---- BackboneKernels (the Denoiser boilerplate is family::CpuModel's, the rest family::TextModel's) ----------
  Status validate(const Tensor& x, const std::vector<float>& t, const Conditions& cond) override {
    if (x.dtype() != DType::F32 || x.ndim() != 5 || x.dim(0) < 1 || x.dim(1) != c_.in_channels ||
        x.dim(2) < c_.pt || x.dim(3) < c_.ph || x.dim(4) < c_.pw || x.dim(2) % c_.pt != 0 || x.dim(3) % c_.ph != 0 ||
        x.dim(4) % c_.pw != 0)
      return invalid_argument("Expected video latents x of shape [B, " + std::to_string(c_.in_channels) +
                              ", F, H, W] (F32, F, H, W multiples of " + std::to_string(c_.pt) + ", " +
                              std::to_string(c_.ph) + ", " + std::to_string(c_.pw) + ") but received " +
                              shape_string(x.shape()) + " " + dtype_name(x.dtype()));
    const int64_t B = x.dim(0);
    if (static_cast<int64_t>(t.size()) != B)
      return invalid_argument("Expected " + std::to_string(B) + " timesteps (one per sample) but received " +
                              std::to_string(t.size()));
    for (float v : t)
      if (!std::isfinite(v)) return invalid_argument("Expected finite timesteps");
    if (!cond.labels.empty()) return invalid_argument("Wan takes no labels (it is conditioned on text embeddings)");
    if (cond.tensors.size() != 1)
      return invalid_argument("Expected 1 condition (encoderHiddenStates) but received " +
                              std::to_string(cond.tensors.size()));
    return family::check_text_condition(cond.tensors[0], "encoderHiddenStates", B, c_.text_dim);
  }

  Status prelude(const Tensor& x, const std::vector<float>& t, const Conditions& cond,
                 const IntermediateSink* o) override {
    DITTO_RETURN_IF_ERROR(validate(x, t, cond));
    const int64_t B = x.dim(0);
    frames_ = x.dim(2);
    height_ = x.dim(3);
    width_ = x.dim(4);
    const Tensor& text = cond.tensors[0];
    text_len_ = text.dim(1);
    DITTO_RETURN_IF_ERROR(ensure_workspace(B));
    const int64_t D = c_.hidden, T = tokens(), L = text_len_, Dh = c_.head_dim();
    ThreadPool& tp = *pool_;

    float* h = ws_.h.data<float>();
    float* patches = ws_.scratch.data<float>();
    cpu::patchify_3d(x.data<float>(), B, c_.in_channels, frames_, height_, width_, c_.pt, c_.ph, c_.pw, patches);
    family::apply(tp, w_.patch_embed, patches, B * T, patch_features(), h, D);
    emit(o, "patch_embedding.out", h, {B, T, D});

    float* t_freq = ws_.t_freq.data<float>();
    timestep_features(t.data(), B, t_freq);
    emit(o, "t_freq", t_freq, {B, c_.freq_dim});
    cpu::Epilogue silu;
    silu.activation = cpu::Activation::Silu;
    float* t_hidden = ws_.t_hidden.data<float>();
    float* temb = ws_.temb.data<float>();
    float* t6 = ws_.t6.data<float>();
    family::apply(tp, w_.time1, t_freq, B, c_.freq_dim, t_hidden, D, silu);
    family::apply(tp, w_.time2, t_hidden, B, D, temb, D);
    emit(o, "temb", temb, {B, D});
    cpu::silu(tp, temb, t_hidden, B * D);
    family::apply(tp, w_.time_proj, t_hidden, B, D, t6, 6 * D);
    emit(o, "timestep_proj", t6, {B, 6 * D});
    family::modulation_rows(w_.blocks, w_.head_table.data(), t6, temb, B, D, ws_.mods.data<float>(),
                            ws_.final_mod.data<float>());

    const int64_t gf = frames_ / c_.pt, gh = height_ / c_.ph, gw = width_ / c_.pw;
    if (rope_f_ != gf || rope_h_ != gh || rope_w_ != gw) {
      rope_cos_.assign(static_cast<size_t>(T * Dh / 2), 0.f);
      rope_sin_.assign(static_cast<size_t>(T * Dh / 2), 0.f);
      rope_tables(gf, gh, gw, Dh, rope_cos_.data(), rope_sin_.data());
      rope_f_ = gf;
      rope_h_ = gh;
      rope_w_ = gw;
    }
    if (o) {  // the reference's (1, T, 1, Dh) tables, each frequency repeated twice
      std::vector<float> cs(static_cast<size_t>(T * Dh)), sn(static_cast<size_t>(T * Dh));
      for (int64_t i = 0; i < T * Dh; ++i) {
        cs[i] = rope_cos_[(i / Dh) * (Dh / 2) + (i % Dh) / 2];
        sn[i] = rope_sin_[(i / Dh) * (Dh / 2) + (i % Dh) / 2];
      }
      emit(o, "rope.cos", cs.data(), {1, T, 1, Dh});
      emit(o, "rope.sin", sn.data(), {1, T, 1, Dh});
    }

    text_computed_ = kv_.update({&text});
    if (text_computed_)
      family::embed_text(tp, w_.text1, w_.text2, text.data<float>(), B * L, c_.text_dim, D, w_.blocks, context_, kv_,
                         [&](int64_t i, float* kv) {
                           if (c_.qk_norm)
                             rms_rows(kv, B * L, 2 * D, w_.blocks[static_cast<size_t>(i)].cross_norm_k.data());
                         });
    ws_bytes_.store(workspace_bytes(), std::memory_order_relaxed);
    emit(o, "context", context_.data(), {B, L, D});
    return Status::Ok();
  }

  Status block(int64_t index, int64_t b0, int64_t B, bool perturb) override {
    const int64_t D = c_.hidden, T = tokens(), L = text_len_, rows = B * T, H = c_.heads, Dh = c_.head_dim();
    const Block& bw = w_.blocks[static_cast<size_t>(index)];
    ThreadPool& tp = *pool_;
    const int64_t stride = c_.depth * 6 * D;
    const float* mod = ws_.mods.data<float>() + (b0 * c_.depth + index) * 6 * D;
    float* h = ws_.h.data<float>() + b0 * T * D;
    float* xn = ws_.xn.data<float>();
    float* qkv = ws_.scratch.data<float>();
    float* attn = ws_.attn.data<float>();
    const float eps = static_cast<float>(c_.eps);
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(Dh)));

    // Self-attention with q/k RMSNorm across heads and 3-D RoPE, gated.
    cpu::layer_norm(tp, h, xn, rows, D, eps, nullptr, nullptr, cpu::Modulation{mod + 0 * D, mod + 1 * D, T, stride});
    family::apply(tp, bw.qkv, xn, rows, D, qkv, 3 * D);
    if (perturb) {
      tp.parallel_for(rows, [&](int64_t r, int) {
        std::memcpy(attn + r * D, qkv + r * 3 * D + 2 * D, static_cast<size_t>(D) * sizeof(float));
      });
    } else {
      tp.parallel_for(rows, [&](int64_t r, int) {
        float* row = qkv + r * 3 * D;
        if (c_.qk_norm) {
          cpu::rms_norm_rows(row, bw.self_norm_q.data(), row, 1, D, eps);
          cpu::rms_norm_rows(row + D, bw.self_norm_k.data(), row + D, 1, D, eps);
        }
        const int64_t token = r % T;
        const float* cs = rope_cos_.data() + token * (Dh / 2);
        const float* sn = rope_sin_.data() + token * (Dh / 2);
        cpu::rope_apply_interleaved(row, 1, H, Dh, 3 * D, cs, sn);
        cpu::rope_apply_interleaved(row + D, 1, H, Dh, 3 * D, cs, sn);
      });
      cpu::attention(tp, family::fused_self_attention(B, T, H, Dh, qkv, attn, scale));
    }
    family::apply(tp, bw.self_out, attn, rows, D, h, D, family::gated(mod + 2 * D, T, stride));

    // Cross-attention: affine LN (or identity), q RMSNorm, cached K/V; plain residual.
    const float* cross_in = h;
    if (c_.cross_norm) {
      cpu::layer_norm(tp, h, xn, rows, D, eps, bw.cross_ln_weight.data(), bw.cross_ln_bias.data());
      cross_in = xn;
    }
    family::apply(tp, bw.q, cross_in, rows, D, attn, D);
    if (c_.qk_norm) rms_rows(attn, rows, D, bw.cross_norm_q.data());
    const float* kv = kv_.key_values[static_cast<size_t>(index)].data() + b0 * L * 2 * D;
    cpu::attention(tp, family::cross_attention(B, T, L, H, Dh, attn, kv, xn, scale));
    family::apply(tp, bw.cross_out, xn, rows, D, h, D, family::gated(ones_.data(), rows, 0));

    // FFN, gated.
    gated_ffn(h, rows, mod, stride, eps, bw.ffn1, bw.ffn2);
    return Status::Ok();
  }

  Result<Tensor> final(int64_t B, const IntermediateSink* o) override {
    const float* out_tokens = final_tokens(B, static_cast<float>(c_.eps), w_.head, out_features(), o);
    DITTO_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::F32, {B, c_.out_channels, frames_, height_, width_}));
    cpu::unpatchify_3d(out_tokens, B, c_.out_channels, frames_, height_, width_, c_.pt, c_.ph, c_.pw,
                       out.data<float>());
    return out;
  }

 private:
  friend class family::TextModel<Config, Weights>;  // create_model constructs it

  int64_t tokens() const override { return (frames_ / c_.pt) * (height_ / c_.ph) * (width_ / c_.pw); }
  int64_t patch_features() const { return c_.in_channels * c_.pt * c_.ph * c_.pw; }
  int64_t out_features() const { return c_.out_channels * c_.pt * c_.ph * c_.pw; }

  // RMSNorm over the first D floats of `rows` rows `stride` apart (Wan's q/k norm across all heads).
  void rms_rows(float* x, int64_t rows, int64_t stride, const float* weight) {
    const int64_t D = c_.hidden;
    const float eps = static_cast<float>(c_.eps);
    pool_->parallel_for(rows, [&](int64_t r, int) { cpu::rms_norm_rows(x + r * stride, weight, x + r * stride, 1, D, eps); });
  }

  // [cos | sin] of t * 10000^(-i/half): diffusers Timesteps (float32, shift 0), or the official float64 sinusoid.
  void timestep_features(const float* t, int64_t B, float* out) const {
    if (c_.layout == Layout::Diffusers) {
      cpu::timestep_embedding(t, B, c_.freq_dim, 10000.f, 0.f, true, out);
      return;
    }
    const int64_t half = c_.freq_dim / 2;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < half; ++i) {
        const double arg = static_cast<double>(t[b]) * std::pow(10000.0, -static_cast<double>(i) / half);
        out[b * c_.freq_dim + i] = static_cast<float>(std::cos(arg));
        out[b * c_.freq_dim + half + i] = static_cast<float>(std::sin(arg));
      }
  }

  PartMacs macs_at(bool with_text) const override {
    const uint64_t D = c_.hidden, T = tokens(), L = text_len_, F = c_.ffn;
    PartMacs m;
    m.prelude = T * patch_features() * D + c_.freq_dim * D + D * D + D * 6 * D;
    if (with_text) m.prelude += L * c_.text_dim * D + L * D * D + c_.depth * L * D * 2 * D;
    const uint64_t block = T * D * 3 * D + 2 * T * T * D + T * D * D  // self-attention
                           + T * D * D + 2 * T * L * D + T * D * D    // cross-attention
                           + 2 * T * D * F;                           // FFN
    m.block.assign(static_cast<size_t>(c_.depth), block);
    m.final = T * D * out_features();
    return m;
  }

  ModelInfo make_info() const {
    ModelInfo info;
    info.family = "wan";
    info.layout = c_.layout == Layout::Official ? "official" : "diffusers";
    info.inputs = {{"x", {-1, c_.in_channels, -1, -1, -1}, DType::F32}, {"t", {-1}, DType::F32}};
    info.conditions = {{"encoderHiddenStates", {-1, -1, c_.text_dim}, DType::F32}};
    info.outputs = {{"out", {-1, c_.out_channels, -1, -1, -1}, DType::F32}};
    auto num = [](int64_t v) { return static_cast<double>(v); };
    const RopeAxes axes = rope_axes(c_.head_dim());
    info.fields = {{"hiddenSize", num(c_.hidden)},      {"numHeads", num(c_.heads)},
                   {"headDim", num(c_.head_dim())},     {"depth", num(c_.depth)},
                   {"inChannels", num(c_.in_channels)}, {"outChannels", num(c_.out_channels)},
                   {"patchFrames", num(c_.pt)},         {"patchHeight", num(c_.ph)},
                   {"patchWidth", num(c_.pw)},          {"textDim", num(c_.text_dim)},
                   {"freqDim", num(c_.freq_dim)},       {"ffnDim", num(c_.ffn)},
                   {"eps", c_.eps},                     {"crossAttnNorm", c_.cross_norm},
                   {"qkNorm", c_.qk_norm},              {"ropeAxes", std::to_string(axes.frame) + "/" +
                                                                         std::to_string(axes.row) + "/" +
                                                                         std::to_string(axes.col)}};
    info.config_path = c_.config_path;
    info.config_json = c_.config_json;
    return info;
  }

  Status ensure_workspace(int64_t B) {
    const int64_t D = c_.hidden;
    return ws_.ensure(B, B * tokens(), D, c_.depth, std::max({3 * D, c_.ffn, patch_features(), out_features()}),
                      c_.freq_dim);
  }

  uint64_t workspace_bytes() const {
    return text_model_bytes() + (rope_cos_.size() + rope_sin_.size()) * sizeof(float);
  }

  explicit WanModel(int threads) : TextModel(threads) {}

  HostVector<float> rope_cos_, rope_sin_;  // counted engine memory (ditto/memory.h)
  int64_t frames_ = 0, height_ = 0, width_ = 0, rope_f_ = -1, rope_h_ = -1, rope_w_ = -1;
};

}  // namespace

Status detect(const SafetensorsFile& weights) { return family::detect(weights, kKeys); }

FamilyLoader cpu_loader() {
  FamilyLoader f;
  f.family = "wan";
  f.backend = "cpu";
  f.detect = detect;
  f.load = [](std::shared_ptr<SafetensorsFile> weights, const ModelFiles& files,
              const LoadOptions& options) -> Result<std::unique_ptr<Denoiser>> {
    DITTO_ASSIGN_OR_RETURN(family::ConfigKwargs kw, family::ConfigKwargs::read(files.config));
    DITTO_ASSIGN_OR_RETURN(std::string layout, family::resolve_layout(*weights, kw, kKeys));
    DITTO_ASSIGN_OR_RETURN(Config config,
                           parse_config(*weights, kw, layout == "official" ? Layout::Official : Layout::Diffusers));
    return WanModel::create(*weights, config, options);
  };
  return f;
}

}  // namespace ditto::wan

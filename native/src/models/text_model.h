// The cross-attention DiTs (PixArt-α, Chen et al. 2023, diffusers PixArtTransformer2DModel; Wan2.1, Wan Team
// 2025, Wan-Video/Wan2.1 WanModel) share everything around their own numerics (one mechanism, not two copies):
//   * TextModel<Config, Weights>: config, weights, workspace (DitWorkspace), the text K/V cache and context, the
//     load (begin_load, the family's weights, a new model), the gated feed-forward, the final layer up to
//     unpatchify, and the overrides that follow from the family's tokens() and macs_at();
//   * modulation_rows: adaLN-single's per-block modulation rows (table_i + t6) and the final (shift, scale);
//   * embed_text: the text embedder and every block's cross-attention K/V (text_family.h CrossKvCache).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "ditto/cpu/gemm.h"
#include "ditto/cpu/norms.h"
#include "models/family_model.h"
#include "models/text_family.h"

namespace ditto::family {

// adaLN-single (PixArt-α, Wan2.1): every block's modulation rows mods[b, i] = table_i + t6[b] ([B, depth, 6D],
// table_i = blocks[i].table, 6D floats) and the final (shift, scale) fmod[b] = final_table + (temb[b], temb[b]).
template <class Blocks>
void modulation_rows(const Blocks& blocks, const float* final_table, const float* t6, const float* temb, int64_t B,
                     int64_t D, float* mods, float* fmod) {
  const int64_t depth = static_cast<int64_t>(blocks.size());
  for (int64_t i = 0; i < depth; ++i)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < 6 * D; ++j)
        mods[(b * depth + i) * 6 * D + j] = blocks[static_cast<size_t>(i)].table[j] + t6[b * 6 * D + j];
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < 2 * D; ++j) fmod[b * 2 * D + j] = final_table[j] + temb[b * D + j % D];
}

// The text side of a cross-attention DiT: context = fc2(GELU-tanh(fc1(text))) over `rows` text tokens of width
// `in`, then every block's k|v = blocks[i].kv(context) ([rows, 2D] each, into cache.key_values), each followed
// by post(i, k|v) (Wan's K RMSNorm; PixArt: nothing).
template <class Blocks, class Post>
void embed_text(ThreadPool& tp, const Linear& fc1, const Linear& fc2, const float* text, int64_t rows, int64_t in,
                int64_t D, const Blocks& blocks, HostVector<float>& context, CrossKvCache& cache, Post&& post) {
  cache.key_values.assign(blocks.size(), {});
  context.assign(static_cast<size_t>(rows * D), 0.f);
  HostVector<float> hidden(static_cast<size_t>(rows * D));
  cpu::Epilogue gelu;
  gelu.activation = cpu::Activation::GeluTanh;
  apply(tp, fc1, text, rows, in, hidden.data(), D, gelu);
  apply(tp, fc2, hidden.data(), rows, D, context.data(), D);
  for (size_t i = 0; i < blocks.size(); ++i) {
    auto& kv = cache.key_values[i];
    kv.resize(static_cast<size_t>(rows * 2 * D));
    apply(tp, blocks[i].kv, context.data(), rows, D, kv.data(), 2 * D);
    post(static_cast<int64_t>(i), kv.data());
  }
}

// The activation buffers of a cross-attention DiT (f32, allocated per batch size and reused): h, xn, attn
// [rows, D], scratch [rows, scratch_cols], t_freq [B, freq_cols], t_hidden / temb [B, D], t6 [B, 6D], mods
// [B, depth·6D], final_mod [B, 2D].
struct DitWorkspace {
  int64_t batch = 0, rows = 0;
  Tensor h, xn, attn, scratch, t_freq, t_hidden, temb, t6, mods, final_mod;
  // Grows to B samples of rows = B·tokens (a smaller request keeps the current buffers).
  Status ensure(int64_t B, int64_t rows, int64_t D, int64_t depth, int64_t scratch_cols, int64_t freq_cols);
  uint64_t bytes() const;
};

// The CPU model of a text-conditioned DiT (PixArt, Wan). The family supplies tokens(), macs_at(), the
// description and the kernels; create() here loads its weights (begin_load first) into a new Model.
template <class Config, class Weights>
class TextModel : public CpuModel {
 public:
  Status emit_block(int64_t index, int64_t rows, const IntermediateSink& capture) override {
    emit(&capture, backbone_.lists[0].name + "." + std::to_string(index) + ".out", ws_.h.data<float>(),
         {rows, tokens(), c_.hidden});
    return Status::Ok();
  }
  float* hidden() override { return ws_.h.data<float>(); }
  int64_t hidden_row_size() const override { return tokens() * c_.hidden; }
  PartMacs part_macs() const override { return macs_at(text_computed_); }
  uint64_t attention_macs(int64_t) const override {
    return 2 * static_cast<uint64_t>(tokens()) * tokens() * c_.hidden;
  }

 protected:
  explicit TextModel(int threads) : CpuModel(threads) {}
  // Tokens of the current input; MACs per sample at the current size (`with_text`: the text embedder and every
  // block's K/V ran).
  virtual int64_t tokens() const = 0;
  virtual PartMacs macs_at(bool with_text) const = 0;

  // begin_load, then load(file, c, dtype) -> Weights into a new Model(threads) with the shared members set.
  template <class Model, class Load>
  static Result<std::unique_ptr<Model>> create_model(const SafetensorsFile& file, const Config& c,
                                                     const LoadOptions& options, const std::string& title,
                                                     Load&& load) {
    DITTO_RETURN_IF_ERROR(begin_load(file, options, title));
    DITTO_ASSIGN_OR_RETURN(Weights w, load(file, c, options.dtype));
    auto m = std::unique_ptr<Model>(new Model(options.threads));
    m->c_ = c;
    m->w_ = std::move(w);
    m->weight_bytes_ = m->w_.bytes();
    m->ones_.assign(static_cast<size_t>(c.hidden), 1.f);
    m->text_len_ = 1;
    return m;
  }
  // The gated feed-forward of a block over rows = B·T rows of h: h += gate_mlp · ff2(GELU-tanh(ff1(LN(h)·(1 +
  // scale_mlp) + shift_mlp))), (shift, scale, gate)_mlp = chunks 3..5 of the block's 6D modulation row `mod`
  // (stride floats per sample).
  void gated_ffn(float* h, int64_t rows, const float* mod, int64_t stride, float eps, const Linear& ff1,
                 const Linear& ff2) {
    const int64_t D = c_.hidden, T = tokens(), F = ff1.out();
    ThreadPool& tp = *pool_;
    float* xn = ws_.xn.data<float>();
    float* hidden = ws_.scratch.data<float>();
    cpu::layer_norm(tp, h, xn, rows, D, eps, nullptr, nullptr, cpu::Modulation{mod + 3 * D, mod + 4 * D, T, stride});
    cpu::Epilogue gelu;
    gelu.activation = cpu::Activation::GeluTanh;
    apply(tp, ff1, xn, rows, D, hidden, F, gelu);
    apply(tp, ff2, hidden, rows, F, h, D, gated(mod + 5 * D, T, stride));
  }
  // The final layer up to unpatchify: LN(h) modulated by the final (shift, scale) rows, then proj into
  // ws_.scratch [B·T, out_features] (captured as "proj_out.out"); returns those tokens.
  const float* final_tokens(int64_t B, float eps, const Linear& proj, int64_t out_features,
                            const IntermediateSink* o) {
    const int64_t D = c_.hidden, T = tokens(), rows = B * T;
    ThreadPool& tp = *pool_;
    const float* fmod = ws_.final_mod.data<float>();
    float* xn = ws_.xn.data<float>();
    float* out_tokens = ws_.scratch.data<float>();
    cpu::layer_norm(tp, ws_.h.data<float>(), xn, rows, D, eps, nullptr, nullptr, cpu::Modulation{fmod, fmod + D, T, 2 * D});
    apply(tp, proj, xn, rows, D, out_tokens, out_features);
    emit(o, "proj_out.out", out_tokens, {B, T, out_features});
    return out_tokens;
  }
  // Workspace and text-side bytes (the family adds its own tables).
  uint64_t text_model_bytes() const { return ws_.bytes() + kv_.bytes() + context_.size() * sizeof(float); }

  Config c_;
  Weights w_;
  DitWorkspace ws_;
  CrossKvCache kv_;
  HostVector<float> context_, ones_;  // counted engine memory (ditto/memory.h); ones_: the plain residual's gate
  int64_t text_len_ = 0;
  bool text_computed_ = true;
};

}  // namespace ditto::family

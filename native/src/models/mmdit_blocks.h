// The joint-attention transformer blocks shared by SD3/SD3.5 MMDiT (Esser et al. 2024, "Scaling Rectified Flow
// Transformers"; diffusers SD3Transformer2DModel / JointTransformerBlock) and Flux (black-forest-labs/flux
// DoubleStreamBlock / SingleStreamBlock; diffusers FluxTransformerBlock / FluxSingleTransformerBlock), and the
// CPU model base both families build on. Golden README "sd3" / "flux" is the authority for the numerics.
//
// The residual stream of one sample is the joint token sequence [S = L_img + L_txt, D] in the family's
// attention order (SD3 [img, txt], Flux [txt, img]), so the executor's block actions (skip, scale, reuse) act
// on both streams at once, exactly as SD3's skip_layers bypasses a block for both streams, and Flux's single
// blocks run on the sequence as stored. Every modulation vector of every block is computed in the prelude by one
// GEMM on SiLU(temb) (each block's slice at its `mod_col`).
//   joint block  per stream: LN·(1+scale)+shift -> q|k|v (+ per-head RMSNorm, + RoPE) -> joint attention over
//                the S tokens -> x += gate·out(attn); [SD3.5 dual: x += gate2·attn2(LN(x_in)·(1+scale2)+shift2),
//                image only]; x += gate_mlp·FF(LN(x)·(1+scale_mlp)+shift_mlp). A context_pre_only text stream
//                (SD3's last block) only contributes q|k|v, modulated (scale, shift) by AdaLayerNormContinuous.
//   single block LN·(1+scale)+shift -> [q|k|v|mlp] -> attention || GELU(mlp) -> x += gate·out([attn, mlp]).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ditto/cpu/finite.h"
#include "ditto/cpu/gemm.h"
#include "ditto/executor.h"
#include "ditto/model.h"
#include "ditto/safetensors.h"
#include "ditto/thread_pool.h"
#include "models/family_config.h"
#include "models/family_model.h"
#include "runtime/cpu_ops.h"

namespace ditto::mmdit {

struct Linear {
  cpu::PackedWeight weight;  // [out, in]
  std::vector<float> bias;   // [out]
  bool empty() const { return weight.empty(); }
  int64_t out() const { return weight.n(); }
  int64_t in() const { return weight.k(); }
  uint64_t bytes() const { return weight.bytes() + bias.size() * sizeof(float); }
};

// A Linear in f32 on the host before packing: rows of several checkpoint tensors stacked.
struct HostLinear {
  int64_t n = 0, k = 0;
  std::vector<float> weight, bias;
};

// Reads shape-checked tensors of one checkpoint (errors name the tensor, the file and the layout) and packs
// Linears for the compute dtype.
class WeightReader {
 public:
  WeightReader(const SafetensorsFile& file, std::string layout, DType dtype)
      : file_(file), layout_(std::move(layout)), dtype_(dtype) {}
  bool has(const std::string& name) const { return file_.has(name); }
  Result<Shape> shape(const std::string& name) const;
  Result<std::vector<float>> vector(const std::string& name, const Shape& expected) const;
  // The named [n_i, k] weights (and their biases) stacked row-wise.
  Result<HostLinear> host(const std::vector<std::string>& prefixes, int64_t k) const;
  Result<Linear> pack(HostLinear&& linear) const;
  Result<Linear> linear(const std::vector<std::string>& prefixes, int64_t k) const;
  Status missing(const std::string& name) const;

 private:
  const SafetensorsFile& file_;
  std::string layout_;
  DType dtype_;
};

struct StreamWeights {
  Linear qkv;                          // [3D, D] q | k | v, head h = features [h·Dh, (h+1)·Dh) of each
  std::vector<float> norm_q, norm_k;   // [Dh] per-head RMSNorm scales; empty = no q/k norm
  Linear out, ff1, ff2;                // empty for a context_pre_only stream
  int64_t mod_col = 0;                 // this stream's modulation chunks in the prelude's modulation output
  bool pre_only = false;               // AdaLayerNormContinuous (scale, shift); no output, no FF
};

struct JointBlockWeights {
  StreamWeights img, txt;
  bool dual = false;                   // SD3.5 attn2: img chunks 6..8 = (shift, scale, gate) of attn2
  Linear qkv2, out2;
  std::vector<float> norm_q2, norm_k2;
};

struct SingleBlockWeights {
  Linear qkv_mlp;                      // [3D + Hm, D] q | k | v | mlp
  std::vector<float> norm_q, norm_k;
  Linear out;                          // [D, D + Hm]
  int64_t mod_col = 0;                 // (shift, scale, gate)
  int64_t mlp_hidden = 0;
};

// Sizes of the joint sequence of the current forward.
struct JointGeometry {
  int64_t D = 0, heads = 0, head_dim = 0;
  int64_t img_tokens = 0, txt_tokens = 0;
  int64_t img_offset = 0, txt_offset = 0;  // token offsets of the streams inside a sample
  float norm_eps = 1e-6f, qk_eps = 1e-6f;
  int64_t seq() const { return img_tokens + txt_tokens; }
};

// Activation buffers (f32, allocated once per batch size / sequence and reused; the kernels allocate nothing).
struct Workspace {
  int64_t batch = 0, seq = 0, img = 0;
  int64_t big_cols = 0, attn_cols = 0, ff_cols = 0, ada_cols = 0, rope_cols = 0;
  Tensor h, xn, xn2, big, attn, ff, ada, rope_cos, rope_sin;
  uint64_t bytes() const;
};
Status ensure_workspace(Workspace& ws, int64_t batch, int64_t seq, int64_t img, int64_t D, int64_t big_cols,
                        int64_t attn_cols, int64_t ff_cols, int64_t ada_cols, int64_t rope_cols);

// h[first, first+rows) <- block(h) in place (rows = samples). perturb: attention output = V (PAG).
// rope: per-sample tables [S, Dh/2] (Flux) in ws.rope_cos / rope_sin, or none.
void joint_block(ThreadPool& tp, const JointBlockWeights& w, const JointGeometry& g, Workspace& ws, bool rope,
                 int64_t first, int64_t rows, bool perturb);
void single_block(ThreadPool& tp, const SingleBlockWeights& w, const JointGeometry& g, Workspace& ws, bool rope,
                  int64_t first, int64_t rows, bool perturb);

// MACs per sample (what skipping the block saves), and of its attention products alone.
uint64_t joint_block_macs(const JointBlockWeights& w, const JointGeometry& g);
uint64_t single_block_macs(const SingleBlockWeights& w, const JointGeometry& g);
uint64_t joint_attention_macs(const JointBlockWeights& w, const JointGeometry& g);

// y = Linear2(SiLU(Linear1(x))) over n rows (timestep / guidance / pooled-text MLPs); tmp holds n·fc1.out().
void mlp_silu(ThreadPool& tp, const float* x, int64_t n, const Linear& fc1, const Linear& fc2, float* tmp, float* y);

// Copies rows [L, D] of every sample of a [B, S, D] joint sequence (from token `offset`) into a dense tensor
// for a capture sink.
void emit_stream(const IntermediateSink& sink, const std::string& name, const float* h, int64_t B, int64_t S,
                 int64_t offset, int64_t L, int64_t D);

// Exact savings on the text stream (issue 20 item 4): context_embedder(encoder_hidden_states) and the pooled-text
// MLP depend neither on the image nor on the timestep, so a generation computes them once. Per row of the batch
// the memo keeps the last input and its output; a row whose input is bit-identical copies the output instead of
// recomputing it. Every row is computed alone (M = its own tokens), so a reused output is bit-identical to a
// recomputed one whatever the batch around it.
class TextMemo {
 public:
  // Row `row`: out = f(in) via `compute` unless `in` equals the stored input; returns whether it was reused.
  template <class Compute>
  bool run(int64_t row, int part, const float* in, int64_t in_n, float* out, int64_t out_n, Compute&& compute) {
    Entry& e = entry(row, part);
    if (static_cast<int64_t>(e.in.size()) == in_n && static_cast<int64_t>(e.out.size()) == out_n &&
        std::equal(in, in + in_n, e.in.begin(), [](float a, float b) { return bits(a) == bits(b); })) {
      std::copy(e.out.begin(), e.out.end(), out);
      return true;
    }
    compute();
    e.in.assign(in, in + in_n);
    e.out.assign(out, out + out_n);
    return false;
  }
  uint64_t bytes() const;

 private:
  struct Entry {
    std::vector<float> in, out;
  };
  static uint32_t bits(float v) {
    uint32_t u;
    std::memcpy(&u, &v, sizeof u);
    return u;
  }
  Entry& entry(int64_t row, int part) {
    const size_t i = static_cast<size_t>(row) * 2 + static_cast<size_t>(part);
    if (entries_.size() <= i) entries_.resize(i + 1);
    return entries_[i];
  }
  std::vector<Entry> entries_;
};

// The CPU model both families share: family::CpuModel's boilerplate (thread pool, op table, description, byte
// counts) plus the joint geometry and workspace, the stream order, the text embedders' MAC accounting and the
// checks of the conditions both take. A family implements the BackboneKernels members that differ (validate,
// prelude, block, final, emit_block, macs).
class CpuJointModel : public family::CpuModel {
 public:
  float* hidden() override { return ws_.h.data<float>(); }
  int64_t hidden_row_size() const override { return geometry_.seq() * geometry_.D; }

 protected:
  enum class StreamOrder { ImageText, TextImage };  // SD3 attends over [img, txt], Flux over [txt, img]
  CpuJointModel(int threads, StreamOrder order) : CpuModel(threads), order_(order) {}

  // The load both families share: the config's kwargs, the finite check, the family's weights into model->w_
  // (load_weights(file, kw, dtype): D, head_dim, joint_dim, pooled_dim), the joint sizes and model->describe(kw).
  // Model declares CpuJointModel a friend (its constructor, w_ and describe are private).
  template <class Model, class LoadWeights>
  static Result<std::unique_ptr<Denoiser>> load_joint(const SafetensorsFile& file, const ModelFiles& files,
                                                      const LoadOptions& options, LoadWeights load_weights) {
    DITTO_ASSIGN_OR_RETURN(FamilyKwargs kw, FamilyKwargs::read(files.config));
    if (options.check_finite) DITTO_RETURN_IF_ERROR(cpu::check_finite_weights(file));
    auto m = std::unique_ptr<Model>(new Model(options.threads));
    DITTO_ASSIGN_OR_RETURN(m->w_, load_weights(file, kw, options.dtype));
    m->set_dims(m->w_.D, m->w_.head_dim, m->w_.joint_dim, m->w_.pooled_dim);
    m->describe(kw);
    return std::unique_ptr<Denoiser>(std::move(m));
  }

  // The sizes the weights fix: hidden size, head size, the widths of encoderHiddenStates and pooledProjections.
  void set_dims(int64_t D, int64_t head_dim, int64_t joint_dim, int64_t pooled_dim);
  // geometry_ for a forward over img_tokens image and txt_tokens text tokens, in the family's stream order.
  void set_geometry(int64_t img_tokens, int64_t txt_tokens);
  // MACs per sample of context_embedder over txt_tokens, and of the pooled-text MLP.
  uint64_t context_macs(int64_t txt_tokens) const;
  uint64_t pooled_macs() const;
  // The text part of the prelude's MACs per sample: as computed by the last prelude when there was one and
  // `measured` (rows whose text was memoised cost nothing; a mixed batch rounds the per-sample share up), else
  // both embedders at g's text length.
  uint64_t text_macs(const JointGeometry& g, bool measured) const;
  // B finite timesteps; encoderHiddenStates [B, L, joint_dim] and pooledProjections [B, pooled_dim] (F32) as
  // c.tensors[0] and [1] (the caller has checked that they exist).
  static Status check_timesteps(int64_t B, const std::vector<float>& t);
  Status check_text(const Conditions& c, int64_t B) const;

  JointGeometry geometry_;
  Workspace ws_;
  uint64_t text_macs_computed_ = 0;  // by the last prelude, over its rows
  int64_t text_rows_ = 0;

 private:
  StreamOrder order_;
  int64_t joint_dim_ = 0, pooled_dim_ = 0;
};

}  // namespace ditto::mmdit

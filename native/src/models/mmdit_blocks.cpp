// Joint-attention blocks of SD3 / Flux and their shared CPU model base (see mmdit_blocks.h for the math).
// Stream GEMMs run per sample (a stream's rows are contiguous within a sample, not across samples); the joint
// attention and the single blocks run over the whole run of samples at once.
#include "models/mmdit_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/norms_kernels.h"
#include "cpu/rope_kernels.h"
#include "ditto/cpu/attention.h"
#include "ditto/cpu/elementwise.h"
#include "ditto/cpu/norms.h"

namespace ditto::mmdit {
namespace {

std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }

// Per-head RMSNorm of q and k (in place) for tokens [begin, begin+count) of one sample's projection rows,
// then RoPE over the sample's whole sequence when tables are given.
void norm_heads(ThreadPool& tp, float* rows, int64_t begin, int64_t count, int64_t row_stride, const JointGeometry& g,
                const std::vector<float>& norm_q, const std::vector<float>& norm_k) {
  if (norm_q.empty() && norm_k.empty()) return;
  tp.parallel_for(count, [&](int64_t j, int) {
    float* r = rows + (begin + j) * row_stride;
    if (!norm_q.empty()) cpu::rms_norm_rows(r, norm_q.data(), r, g.heads, g.head_dim, g.qk_eps);
    if (!norm_k.empty()) cpu::rms_norm_rows(r + g.D, norm_k.data(), r + g.D, g.heads, g.head_dim, g.qk_eps);
  });
}

void apply_rope(float* rows, int64_t tokens, int64_t row_stride, const JointGeometry& g, const float* cos,
                const float* sin) {
  cpu::rope_apply_interleaved(rows, tokens, g.heads, g.head_dim, row_stride, cos, sin);
  cpu::rope_apply_interleaved(rows + g.D, tokens, g.heads, g.head_dim, row_stride, cos, sin);
}

cpu::AttentionArgs self_attention(const float* qkv, int64_t batch, int64_t tokens, int64_t row_stride,
                                  int64_t batch_stride, float* out, int64_t out_row_stride, int64_t out_batch_stride,
                                  const JointGeometry& g) {
  cpu::AttentionArgs a;
  a.batch = batch;
  a.heads = g.heads;
  a.q_len = a.kv_len = tokens;
  a.head_dim = g.head_dim;
  a.q = qkv;
  a.k = qkv + g.D;
  a.v = qkv + 2 * g.D;
  a.q_batch_stride = a.k_batch_stride = a.v_batch_stride = batch_stride;
  a.q_row_stride = a.k_row_stride = a.v_row_stride = row_stride;
  a.out = out;
  a.out_row_stride = out_row_stride;
  a.out_batch_stride = out_batch_stride;
  a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(g.head_dim)));
  return a;
}

// attention, or (perturb) out = V
void attend(ThreadPool& tp, const cpu::AttentionArgs& a, bool perturb) {
  if (!perturb) {
    cpu::attention(tp, a);
    return;
  }
  const int64_t D = a.heads * a.head_dim;
  tp.parallel_for(a.batch * a.q_len, [&](int64_t r, int) {
    const int64_t b = r / a.q_len, i = r % a.q_len;
    std::memcpy(a.out + b * a.out_batch_stride + i * a.out_row_stride, a.v + b * a.v_batch_stride + i * a.v_row_stride,
                static_cast<size_t>(D) * sizeof(float));
  });
}

// x += gate · FF(LN(x)·(1+scale)+shift) over L rows of one sample (gate/shift/scale rows of that sample).
void feed_forward(ThreadPool& tp, const StreamWeights& s, const JointGeometry& g, float* x, float* xn, float* ff,
                  int64_t L, const float* shift, const float* scale, const float* gate) {
  const int64_t D = g.D;
  cpu::layer_norm(tp, x, xn, L, D, g.norm_eps, nullptr, nullptr, cpu::Modulation{shift, scale, L, 0});
  cpu::Epilogue e1;
  e1.bias = s.ff1.bias.data();
  e1.activation = cpu::Activation::GeluTanh;
  cpu::linear(tp, xn, L, D, s.ff1.weight, ff, s.ff1.out(), e1);
  cpu::Epilogue e2;
  e2.bias = s.ff2.bias.data();
  e2.gate = gate;
  e2.gate_row_group = L;
  cpu::linear(tp, ff, L, s.ff1.out(), s.ff2.weight, x, D, e2);
}

// x += gate · proj(a) over L rows
void gated_projection(ThreadPool& tp, const Linear& proj, const float* a, int64_t lda, int64_t L, float* x, int64_t D,
                      const float* gate) {
  cpu::Epilogue e;
  e.bias = proj.bias.data();
  e.gate = gate;
  e.gate_row_group = L;
  cpu::linear(tp, a, L, lda, proj.weight, x, D, e);
}

}  // namespace

// ---- weights ------------------------------------------------------------------------------------------------
Status WeightReader::missing(const std::string& name) const {
  return model_load_error("Tensor " + in_quotes(name) + " is missing from " + in_quotes(file_.path()) + " (" +
                          layout_ + " layout)");
}

Result<Shape> WeightReader::shape(const std::string& name) const {
  const SafetensorsEntry* e = file_.find(name);
  if (!e) return missing(name);
  return e->shape;
}

Result<std::vector<float>> WeightReader::vector(const std::string& name, const Shape& expected) const {
  const SafetensorsEntry* e = file_.find(name);
  if (!e) return missing(name);
  if (e->shape != expected)
    return model_load_error("Tensor " + in_quotes(name) + " in " + in_quotes(file_.path()) + " has shape " +
                            shape_string(e->shape) + " but the model's other tensors imply " +
                            shape_string(expected) + " (" + layout_ + " layout)");
  DITTO_ASSIGN_OR_RETURN(Tensor t, file_.get_f32(name));
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

Result<HostLinear> WeightReader::host(const std::vector<std::string>& prefixes, int64_t k) const {
  HostLinear out;
  out.k = k;
  for (const std::string& p : prefixes) {
    DITTO_ASSIGN_OR_RETURN(Shape s, shape(p + ".weight"));
    if (s.size() != 2 || s[1] != k)
      return model_load_error("Tensor " + in_quotes(p + ".weight") + " in " + in_quotes(file_.path()) +
                              " has shape " + shape_string(s) + " but the model's other tensors imply [N, " +
                              std::to_string(k) + "] (" + layout_ + " layout)");
    DITTO_ASSIGN_OR_RETURN(std::vector<float> w, vector(p + ".weight", s));
    DITTO_ASSIGN_OR_RETURN(std::vector<float> b, vector(p + ".bias", {s[0]}));
    out.weight.insert(out.weight.end(), w.begin(), w.end());
    out.bias.insert(out.bias.end(), b.begin(), b.end());
    out.n += s[0];
  }
  return out;
}

Result<Linear> WeightReader::pack(HostLinear&& h) const {
  Linear l;
  DITTO_ASSIGN_OR_RETURN(l.weight, cpu::PackedWeight::pack(h.weight.data(), h.n, h.k, dtype_));
  l.bias = std::move(h.bias);
  return l;
}

Result<Linear> WeightReader::linear(const std::vector<std::string>& prefixes, int64_t k) const {
  DITTO_ASSIGN_OR_RETURN(HostLinear h, host(prefixes, k));
  return pack(std::move(h));
}

// ---- workspace ----------------------------------------------------------------------------------------------
uint64_t Workspace::bytes() const {
  uint64_t n = 0;
  for (const Tensor* t : {&h, &xn, &xn2, &big, &attn, &ff, &ada, &rope_cos, &rope_sin}) n += t->nbytes();
  return n;
}

Status ensure_workspace(Workspace& ws, int64_t batch, int64_t seq, int64_t img, int64_t D, int64_t big_cols,
                        int64_t attn_cols, int64_t ff_cols, int64_t ada_cols, int64_t rope_cols) {
  if (ws.batch == batch && ws.seq == seq && ws.img == img && ws.big_cols == big_cols && ws.attn_cols == attn_cols &&
      ws.ff_cols == ff_cols && ws.ada_cols == ada_cols && ws.rope_cols == rope_cols)
    return Status::Ok();
  Workspace n;
  const int64_t rows = batch * seq;
  DITTO_ASSIGN_OR_RETURN(n.h, Tensor::empty(DType::F32, {rows, D}));
  DITTO_ASSIGN_OR_RETURN(n.xn, Tensor::empty(DType::F32, {rows, D}));
  DITTO_ASSIGN_OR_RETURN(n.xn2, Tensor::empty(DType::F32, {batch * img, D}));
  DITTO_ASSIGN_OR_RETURN(n.big, Tensor::empty(DType::F32, {rows, big_cols}));
  DITTO_ASSIGN_OR_RETURN(n.attn, Tensor::empty(DType::F32, {rows, attn_cols}));
  DITTO_ASSIGN_OR_RETURN(n.ff, Tensor::empty(DType::F32, {rows, ff_cols}));
  DITTO_ASSIGN_OR_RETURN(n.ada, Tensor::empty(DType::F32, {batch, ada_cols}));
  DITTO_ASSIGN_OR_RETURN(n.rope_cos, Tensor::empty(DType::F32, {rows, rope_cols}));
  DITTO_ASSIGN_OR_RETURN(n.rope_sin, Tensor::empty(DType::F32, {rows, rope_cols}));
  n.batch = batch;
  n.seq = seq;
  n.img = img;
  n.big_cols = big_cols;
  n.attn_cols = attn_cols;
  n.ff_cols = ff_cols;
  n.ada_cols = ada_cols;
  n.rope_cols = rope_cols;
  ws = std::move(n);
  return Status::Ok();
}

// ---- blocks -------------------------------------------------------------------------------------------------
void joint_block(ThreadPool& tp, const JointBlockWeights& w, const JointGeometry& g, Workspace& ws, bool rope,
                 int64_t first, int64_t rows, bool perturb) {
  const int64_t D = g.D, S = g.seq(), qkv_cols = ws.big_cols, ada_cols = ws.ada_cols, half = g.head_dim / 2;
  struct Stream {
    const StreamWeights* w;
    int64_t offset, tokens;
  };
  const Stream streams[2] = {{&w.img, g.img_offset, g.img_tokens}, {&w.txt, g.txt_offset, g.txt_tokens}};
  float* h = ws.h.data<float>();
  float* xn = ws.xn.data<float>();
  float* big = ws.big.data<float>();
  float* attn = ws.attn.data<float>();
  const float* ada = ws.ada.data<float>();

  // Modulate, project, normalise and rotate each stream of each sample.
  for (int64_t b = first; b < first + rows; ++b) {
    float* hb = h + b * S * D;
    float* xb = xn + b * S * D;
    float* qb = big + b * S * qkv_cols;
    for (const Stream& s : streams) {
      const float* m = ada + b * ada_cols + s.w->mod_col;
      const float* shift = s.w->pre_only ? m + D : m;
      const float* scale = s.w->pre_only ? m : m + D;
      cpu::layer_norm(tp, hb + s.offset * D, xb + s.offset * D, s.tokens, D, g.norm_eps, nullptr, nullptr,
                      cpu::Modulation{shift, scale, s.tokens, 0});
      cpu::Epilogue e;
      e.bias = s.w->qkv.bias.data();
      cpu::linear(tp, xb + s.offset * D, s.tokens, D, s.w->qkv.weight, qb + s.offset * qkv_cols, qkv_cols, e);
      norm_heads(tp, qb, s.offset, s.tokens, qkv_cols, g, s.w->norm_q, s.w->norm_k);
    }
    if (w.dual) {  // attn2 reads LN(x_in)·(1+scale_msa2)+shift_msa2 of the block input
      const float* m = ada + b * ada_cols + w.img.mod_col;
      cpu::layer_norm(tp, hb + g.img_offset * D, ws.xn2.data<float>() + b * g.img_tokens * D, g.img_tokens, D,
                      g.norm_eps, nullptr, nullptr, cpu::Modulation{m + 6 * D, m + 7 * D, g.img_tokens, 0});
    }
    if (rope) {
      apply_rope(qb, S, qkv_cols, g, ws.rope_cos.data<float>() + b * S * half,
                 ws.rope_sin.data<float>() + b * S * half);
    }
  }
  attend(tp,
         self_attention(big + first * S * qkv_cols, rows, S, qkv_cols, S * qkv_cols, attn + first * S * D, D, S * D, g),
         perturb);

  for (int64_t b = first; b < first + rows; ++b) {
    float* hb = h + b * S * D;
    float* xb = xn + b * S * D;
    float* ab = attn + b * S * D;
    float* ffb = ws.ff.data<float>() + b * S * ws.ff_cols;
    for (const Stream& s : streams) {
      if (s.w->pre_only) continue;
      const float* m = ada + b * ada_cols + s.w->mod_col;
      float* x = hb + s.offset * D;
      gated_projection(tp, s.w->out, ab + s.offset * D, D, s.tokens, x, D, m + 2 * D);
      if (s.w == &w.img && w.dual) {
        // attn2: image-only self-attention on the block input's second modulation; its projections reuse the
        // sample's slice of `big` (the joint q|k|v are consumed) and the image rows of `attn`.
        float* q2 = big + b * S * qkv_cols;
        cpu::Epilogue e;
        e.bias = w.qkv2.bias.data();
        cpu::linear(tp, ws.xn2.data<float>() + b * g.img_tokens * D, g.img_tokens, D, w.qkv2.weight, q2, qkv_cols, e);
        norm_heads(tp, q2, 0, g.img_tokens, qkv_cols, g, w.norm_q2, w.norm_k2);
        float* a2 = ab + g.img_offset * D;
        attend(tp, self_attention(q2, 1, g.img_tokens, qkv_cols, 0, a2, D, 0, g), perturb);
        gated_projection(tp, w.out2, a2, D, g.img_tokens, x, D, m + 8 * D);
      }
      feed_forward(tp, *s.w, g, x, xb + s.offset * D, ffb, s.tokens, m + 3 * D, m + 4 * D, m + 5 * D);
    }
  }
}

void single_block(ThreadPool& tp, const SingleBlockWeights& w, const JointGeometry& g, Workspace& ws, bool rope,
                  int64_t first, int64_t rows, bool perturb) {
  const int64_t D = g.D, S = g.seq(), M = rows * S, Hm = w.mlp_hidden, cols = ws.big_cols, acols = ws.attn_cols;
  const int64_t half = g.head_dim / 2;
  float* h = ws.h.data<float>() + first * S * D;
  float* xn = ws.xn.data<float>() + first * S * D;
  float* big = ws.big.data<float>() + first * S * cols;
  float* cat = ws.attn.data<float>() + first * S * acols;
  const float* m = ws.ada.data<float>() + first * ws.ada_cols + w.mod_col;
  cpu::layer_norm(tp, h, xn, M, D, g.norm_eps, nullptr, nullptr, cpu::Modulation{m, m + D, S, ws.ada_cols});
  cpu::Epilogue e;
  e.bias = w.qkv_mlp.bias.data();
  cpu::linear(tp, xn, M, D, w.qkv_mlp.weight, big, cols, e);
  norm_heads(tp, big, 0, M, cols, g, w.norm_q, w.norm_k);
  if (rope) {
    for (int64_t r = 0; r < rows; ++r)
      apply_rope(big + r * S * cols, S, cols, g, ws.rope_cos.data<float>() + (first + r) * S * half,
                 ws.rope_sin.data<float>() + (first + r) * S * half);
  }
  attend(tp, self_attention(big, rows, S, cols, S * cols, cat, acols, S * acols, g), perturb);
  tp.parallel_for(M, [&](int64_t r, int) {
    const float* src = big + r * cols + 3 * D;
    float* dst = cat + r * acols + D;
    for (int64_t j = 0; j < Hm; ++j) dst[j] = cpu::gelu_tanh_scalar(src[j]);
  });
  cpu::Epilogue eo;
  eo.bias = w.out.bias.data();
  eo.gate = m + 2 * D;
  eo.gate_row_group = S;
  eo.gate_stride = ws.ada_cols;
  cpu::linear(tp, cat, M, acols, w.out.weight, h, D, eo);
}

uint64_t joint_attention_macs(const JointBlockWeights& w, const JointGeometry& g) {
  const uint64_t S = g.seq(), L = g.img_tokens, D = g.D;
  return 2 * S * S * D + (w.dual ? 2 * L * L * D : 0);
}

uint64_t joint_block_macs(const JointBlockWeights& w, const JointGeometry& g) {
  const uint64_t D = g.D;
  uint64_t macs = joint_attention_macs(w, g);
  for (const auto* s : {&w.img, &w.txt}) {
    const uint64_t L = s == &w.img ? g.img_tokens : g.txt_tokens;
    macs += L * D * static_cast<uint64_t>(s->qkv.out());
    if (!s->pre_only) macs += L * D * D + 2 * L * D * static_cast<uint64_t>(s->ff1.out());
  }
  if (w.dual) macs += static_cast<uint64_t>(g.img_tokens) * D * (3 * D + D);
  return macs;
}

uint64_t single_block_macs(const SingleBlockWeights& w, const JointGeometry& g) {
  const uint64_t S = g.seq(), D = g.D, Hm = w.mlp_hidden;
  return S * D * (3 * D + Hm) + 2 * S * S * D + S * (D + Hm) * D;
}

void mlp_silu(ThreadPool& tp, const float* x, int64_t n, const Linear& fc1, const Linear& fc2, float* tmp, float* y) {
  cpu::Epilogue e1;
  e1.bias = fc1.bias.data();
  e1.activation = cpu::Activation::Silu;
  cpu::linear(tp, x, n, fc1.in(), fc1.weight, tmp, fc1.out(), e1);
  cpu::Epilogue e2;
  e2.bias = fc2.bias.data();
  cpu::linear(tp, tmp, n, fc2.in(), fc2.weight, y, fc2.out(), e2);
}

void emit_stream(const IntermediateSink& sink, const std::string& name, const float* h, int64_t B, int64_t S,
                 int64_t offset, int64_t L, int64_t D) {
  auto t = Tensor::empty(DType::F32, {B, L, D});
  if (!t.ok()) return;
  for (int64_t b = 0; b < B; ++b)
    std::memcpy(t.value().data<float>() + b * L * D, h + (b * S + offset) * D, static_cast<size_t>(L * D) * sizeof(float));
  sink(name, t.value());
}

uint64_t TextMemo::bytes() const {
  uint64_t n = 0;
  for (const Entry& e : entries_) n += (e.in.capacity() + e.out.capacity()) * sizeof(float);
  return n;
}

void CpuJointModel::set_dims(int64_t D, int64_t head_dim, int64_t joint_dim, int64_t pooled_dim) {
  geometry_.D = D;
  geometry_.head_dim = head_dim;
  geometry_.heads = D / head_dim;
  joint_dim_ = joint_dim;
  pooled_dim_ = pooled_dim;
}

void CpuJointModel::set_geometry(int64_t img_tokens, int64_t txt_tokens) {
  geometry_.img_tokens = img_tokens;
  geometry_.txt_tokens = txt_tokens;
  const bool image_first = order_ == StreamOrder::ImageText;
  geometry_.img_offset = image_first ? 0 : txt_tokens;
  geometry_.txt_offset = image_first ? img_tokens : 0;
}

uint64_t CpuJointModel::context_macs(int64_t txt_tokens) const {
  return static_cast<uint64_t>(txt_tokens) * joint_dim_ * geometry_.D;
}

uint64_t CpuJointModel::pooled_macs() const {
  return static_cast<uint64_t>(pooled_dim_) * geometry_.D + geometry_.D * geometry_.D;
}

uint64_t CpuJointModel::text_macs(const JointGeometry& g, bool measured) const {
  return measured && text_rows_ > 0
             ? (text_macs_computed_ + static_cast<uint64_t>(text_rows_) - 1) / static_cast<uint64_t>(text_rows_)
             : context_macs(g.txt_tokens) + pooled_macs();
}

Status CpuJointModel::check_timesteps(int64_t B, const std::vector<float>& t) {
  if (static_cast<int64_t>(t.size()) != B)
    return invalid_argument("Expected " + std::to_string(B) + " timesteps (one per sample) but received " +
                            std::to_string(t.size()));
  for (int64_t i = 0; i < B; ++i)
    if (!std::isfinite(t[i]))
      return invalid_argument("Expected finite timesteps but t[" + std::to_string(i) + "] is " + std::to_string(t[i]));
  return Status::Ok();
}

Status CpuJointModel::check_text(const Conditions& c, int64_t B) const {
  const Tensor& ehs = c.tensors[0];
  if (ehs.dtype() != DType::F32 || ehs.ndim() != 3 || ehs.dim(0) != B || ehs.dim(1) < 1 || ehs.dim(2) != joint_dim_)
    return invalid_argument("Expected encoderHiddenStates of dtype F32 and shape [" + std::to_string(B) + ", L, " +
                            std::to_string(joint_dim_) + "] but received " + dtype_name(ehs.dtype()) + " " +
                            shape_string(ehs.shape()));
  const Tensor& pooled = c.tensors[1];
  if (pooled.dtype() != DType::F32 || pooled.shape() != Shape{B, pooled_dim_})
    return invalid_argument("Expected pooledProjections of dtype F32 and shape [" + std::to_string(B) + ", " +
                            std::to_string(pooled_dim_) + "] but received " + dtype_name(pooled.dtype()) + " " +
                            shape_string(pooled.shape()));
  return Status::Ok();
}

}  // namespace ditto::mmdit

// DiT forward (Peebles & Xie 2023, "Scalable Diffusion Models with Transformers"; reference code
// facebookresearch/DiT models.py and diffusers DiTTransformer2DModel), fused for the CPU:
//   prelude  patchify + patch Linear (+ pos table) -> h;  t -> 256-d sinusoid -> Linear,SiLU,Linear (+ label
//            embedding) -> c per conditioning group;  one adaLN GEMM per group on SiLU(c) gives every block's
//            and the final layer's modulation vectors at once.
//   block    LN+modulate -> qkv Linear -> attention read in place from the qkv buffer -> proj Linear whose
//            epilogue adds gate_msa * (.) into h;  LN+modulate -> fc1 (+GELU-tanh fused) -> fc2 whose
//            epilogue adds gate_mlp * (.) into h.
//   final    LN+modulate (shift, scale) -> Linear -> unpatchify (nhwpqc -> nchpwq).
// These are the DiT's BackboneKernels: the block loop (plans, sharing, caches) is the executor's
// (native/src/runtime/executor.cpp). A block runs over any run of consecutive rows of the batch.
// All activations live in a per-batch-size workspace allocated once and reused; the kernels allocate
// nothing (captures of strided slices copy, but only when a capture sink is set).
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
#include "models/dit_family.h"
#include "models/dit_internal.h"
#include "models/family_model.h"
#include "runtime/cpu_ops.h"

namespace ditto {

namespace {

// Activation buffers for one batch size (all f32, row-major, 64-byte aligned).
struct Workspace {
  int64_t batch = 0, rows = 0;  // capacity: samples, and samples x tokens
  Tensor h, xn, attn, scratch;             // [B*T, D] x3, [B*T, max(3D, mlp, C*p*p, p*p*C_out)]
  Tensor t_freq, t_hidden;                 // [B, 256], [B, D]
  std::vector<Tensor> t_emb, y_emb, c, silu_c, adaln;  // per conditioning group
};

Result<Tensor> f32_buffer(int64_t rows, int64_t cols) { return Tensor::empty(DType::F32, {rows, cols}); }

uint64_t workspace_bytes(const Workspace& ws) {
  uint64_t bytes = 0;
  for (const Tensor* t : {&ws.h, &ws.xn, &ws.attn, &ws.scratch, &ws.t_freq, &ws.t_hidden}) bytes += t->nbytes();
  for (const auto* list : {&ws.t_emb, &ws.y_emb, &ws.c, &ws.silu_c, &ws.adaln}) {
    for (const Tensor& t : *list) bytes += t.nbytes();
  }
  return bytes;
}

uint64_t weight_bytes(const dit::Weights& w) {
  auto linear = [](const dit::PackedLinear& l) { return l.weight.bytes() + l.bias.size() * sizeof(float); };
  uint64_t bytes = linear(w.patch_embed) + linear(w.final_linear) + w.pos_table.size() * sizeof(float);
  for (const auto& g : w.groups) {
    bytes += linear(g.t_fc1) + linear(g.t_fc2) + linear(g.adaln) + g.label_table.size() * sizeof(float);
  }
  for (const auto& b : w.blocks) bytes += linear(b.qkv) + linear(b.proj) + linear(b.fc1) + linear(b.fc2);
  return bytes;
}

}  // namespace

struct DitModel::Impl final : BackboneKernels {
  DitConfig config;
  LoadOptions options;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<CpuOps> cpu_ops;
  dit::Weights w;
  MacCount macs;
  ModelInfo info;
  Backbone backbone;
  Workspace ws;
  uint64_t weights_bytes = 0;
  std::atomic<uint64_t> ws_bytes{0};  // read by memory_bytes() from any thread

  int64_t D() const { return config.hidden_size; }
  // Spatial size of the current forward: the config's input_size, or for diffusers checkpoints any multiple of
  // the patch size (DiTTransformer2DModel reads height/width from the input and recomputes the pos table).
  int64_t height = 0, width = 0;
  HostVector<float> pos_dynamic;  // pos table for a non-default grid (diffusers only), rebuilt on size change
  int64_t pos_dynamic_h = 0, pos_dynamic_w = 0;
  int64_t T() const { return (height / config.patch_size) * (width / config.patch_size); }
  int64_t default_T() const { return dit::num_tokens(config); }
  int64_t patch_features() const { return config.in_channels * config.patch_size * config.patch_size; }
  int64_t out_features() const { return config.out_channels * config.patch_size * config.patch_size; }

  Status ensure_workspace(int64_t B) {
    if (ws.rows >= B * T() && ws.batch >= B) return Status::Ok();
    Workspace n;
    const int64_t rows = B * T();
    const int64_t scratch_cols = std::max({3 * D(), w.mlp_hidden, patch_features(), out_features()});
    DITTO_ASSIGN_OR_RETURN(n.h, f32_buffer(rows, D()));
    DITTO_ASSIGN_OR_RETURN(n.xn, f32_buffer(rows, D()));
    DITTO_ASSIGN_OR_RETURN(n.attn, f32_buffer(rows, D()));
    DITTO_ASSIGN_OR_RETURN(n.scratch, f32_buffer(rows, scratch_cols));
    DITTO_ASSIGN_OR_RETURN(n.t_freq, f32_buffer(B, dit::kTimestepFeatures));
    DITTO_ASSIGN_OR_RETURN(n.t_hidden, f32_buffer(B, D()));
    for (const auto& g : w.groups) {
      Tensor t;
      DITTO_ASSIGN_OR_RETURN(t, f32_buffer(B, D()));
      n.t_emb.push_back(t);
      DITTO_ASSIGN_OR_RETURN(t, f32_buffer(B, D()));
      n.y_emb.push_back(t);
      DITTO_ASSIGN_OR_RETURN(t, f32_buffer(B, D()));
      n.c.push_back(t);
      DITTO_ASSIGN_OR_RETURN(t, f32_buffer(B, D()));
      n.silu_c.push_back(t);
      DITTO_ASSIGN_OR_RETURN(t, f32_buffer(B, g.adaln.out()));
      n.adaln.push_back(t);
    }
    n.batch = B;
    n.rows = rows;
    ws = std::move(n);
    ws_bytes.store(workspace_bytes(ws), std::memory_order_relaxed);
    return Status::Ok();
  }

  // The pos table for the current grid: the loaded/computed one for the config's size, else diffusers'
  // get_2d_sincos_pos_embed(grid=(gh, gw), base_size=sample_size/p, interpolation_scale=1).
  const float* pos_table() {
    const int64_t p = config.patch_size, gh = height / p, gw = width / p;
    if (height == config.input_size && width == config.input_size) return w.pos_table.data();
    if (pos_dynamic_h != gh || pos_dynamic_w != gw) {
      const double base_size = static_cast<double>(config.input_size / p);
      pos_dynamic.assign(static_cast<size_t>(gh * gw * D()), 0.f);
      cpu::sincos_2d_table(gh, gw, D(), gh / base_size, gw / base_size, pos_dynamic.data());
      pos_dynamic_h = gh;
      pos_dynamic_w = gw;
    }
    return pos_dynamic.data();
  }

  // Capture helpers (no-ops without a sink).
  static void emit(const IntermediateSink* o, std::string_view name, const float* p, Shape shape) {
    if (!o) return;
    (*o)(name, Tensor::borrow(nullptr, const_cast<float*>(p), DType::F32, std::move(shape)));
  }
  // Columns [col, col+width) of a [rows, stride] buffer, copied so the sink sees a dense tensor.
  static void emit_columns(const IntermediateSink* o, std::string_view name, const float* p, int64_t rows,
                           int64_t stride, int64_t col, int64_t width) {
    if (!o) return;
    auto t = Tensor::empty(DType::F32, {rows, width});
    if (!t.ok()) return;
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(t.value().data<float>() + r * width, p + r * stride + col, static_cast<size_t>(width) * sizeof(float));
    (*o)(name, t.value());
  }

  std::string block_name(int64_t i) const {
    return dit::block_prefix(config) + "." + std::to_string(i);
  }

  void run_prelude(const Tensor& x, const std::vector<float>& t, const std::vector<int64_t>& y,
                   const IntermediateSink* o) {
    const int64_t B = x.dim(0), D = this->D(), T = this->T(), rows = B * T;
    const bool official = config.layout == DitLayout::Official;
    ThreadPool& tp = *pool;
    float* h = ws.h.data<float>();
    float* patches = ws.scratch.data<float>();
    cpu::patchify(x.data<float>(), B, config.in_channels, height, width, config.patch_size,
                  patches);
    cpu::Epilogue pe;
    pe.bias = w.patch_embed.bias.data();
    cpu::linear(tp, patches, rows, patch_features(), w.patch_embed.weight, h, D, pe);
    if (official) emit(o, "x_embedder.out", h, {B, T, D});
    const float* pos = pos_table();
    tp.parallel_for(B * T, [&](int64_t r, int) {
      float* row = h + r * D;
      const float* p = pos + (r % T) * D;
      for (int64_t j = 0; j < D; ++j) row[j] += p[j];
    });
    if (official) {
      emit(o, "x_embed", h, {B, T, D});
    } else {
      emit(o, "pos_embed.table", pos, {1, T, D});
      emit(o, "pos_embed.out", h, {B, T, D});
    }

    float* t_freq = ws.t_freq.data<float>();
    cpu::timestep_embedding(t.data(), B, dit::kTimestepFeatures, 10000.f, config.freq_shift, true, t_freq);
    emit(o, "t_freq", t_freq, {B, dit::kTimestepFeatures});

    for (size_t g = 0; g < w.groups.size(); ++g) {
      const dit::ConditionGroup& cg = w.groups[g];
      float* t_hidden = ws.t_hidden.data<float>();
      float* t_emb = ws.t_emb[g].data<float>();
      float* y_emb = ws.y_emb[g].data<float>();
      float* c = ws.c[g].data<float>();
      float* silu_c = ws.silu_c[g].data<float>();
      float* ada = ws.adaln[g].data<float>();
      cpu::Epilogue e1;
      e1.bias = cg.t_fc1.bias.data();
      e1.activation = cpu::Activation::Silu;
      cpu::linear(tp, t_freq, B, dit::kTimestepFeatures, cg.t_fc1.weight, t_hidden, D, e1);
      cpu::Epilogue e2;
      e2.bias = cg.t_fc2.bias.data();
      cpu::linear(tp, t_hidden, B, D, cg.t_fc2.weight, t_emb, D, e2);
      // Labels were validated against label_rows, so the lookup cannot fail here.
      (void)cpu::embedding_lookup(cg.label_table.data(), w.label_rows, D, y.data(), B, y_emb);
      for (int64_t i = 0; i < B * D; ++i) c[i] = t_emb[i] + y_emb[i];
      cpu::silu(tp, c, silu_c, B * D);
      cpu::Epilogue ea;
      ea.bias = cg.adaln.bias.data();
      const int64_t cols = cg.adaln.out();
      cpu::linear(tp, silu_c, B, D, cg.adaln.weight, ada, cols, ea);
      if (official) {
        emit(o, "t_emb", t_emb, {B, D});
        emit(o, "y_emb", y_emb, {B, D});
        emit(o, "c", c, {B, D});
      }
      if (o) {
        for (int b : cg.blocks) {
          const dit::BlockWeights& bw = w.blocks[b];
          if (!official) emit(o, block_name(b) + ".norm1.emb.out", c, {B, D});
          emit_columns(o, block_name(b) + (official ? ".adaLN" : ".norm1.linear.out"), ada, B, cols, bw.adaln_col,
                       6 * D);
        }
        if (official && static_cast<int>(g) == w.final_group)
          emit_columns(o, "final_layer.adaLN", ada, B, cols, w.final_adaln_col, 2 * D);
      }
    }
  }

  // h[b0, b0+B) <- block_i(h), entirely in place through the gated-residual epilogues. perturb: the attention
  // output is V (PAG's identity attention map).
  void run_block(int64_t i, int64_t b0, int64_t B, bool perturb) {
    const int64_t D = this->D(), T = this->T(), rows = B * T, H = config.num_heads, Dh = D / H;
    const dit::BlockWeights& bw = w.blocks[i];
    const int64_t stride = w.groups[bw.group].adaln.out();
    const float* ada = ws.adaln[bw.group].data<float>() + b0 * stride + bw.adaln_col;
    ThreadPool& tp = *pool;
    float* h = ws.h.data<float>() + b0 * T * D;
    float* xn = ws.xn.data<float>();
    float* qkv = ws.scratch.data<float>();
    float* attn = ws.attn.data<float>();

    // (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp), each D wide.
    cpu::Modulation msa{ada + 0 * D, ada + 1 * D, T, stride};
    cpu::layer_norm(tp, h, xn, rows, D, config.norm_eps, nullptr, nullptr, msa);
    cpu::Epilogue eq;
    eq.bias = bw.qkv.bias.data();
    cpu::linear(tp, xn, rows, D, bw.qkv.weight, qkv, 3 * D, eq);

    if (perturb) {
      tp.parallel_for(rows, [&](int64_t r, int) {
        std::memcpy(attn + r * D, qkv + r * 3 * D + 2 * D, static_cast<size_t>(D) * sizeof(float));
      });
    } else {
      cpu::attention(tp, family::fused_self_attention(B, T, H, Dh, qkv, attn,
                                                      static_cast<float>(1.0 / std::sqrt(static_cast<double>(Dh)))));
    }

    cpu::Epilogue ep;
    ep.bias = bw.proj.bias.data();
    ep.gate = ada + 2 * D;
    ep.gate_row_group = T;
    ep.gate_stride = stride;
    cpu::linear(tp, attn, rows, D, bw.proj.weight, h, D, ep);

    cpu::Modulation mlp{ada + 3 * D, ada + 4 * D, T, stride};
    cpu::layer_norm(tp, h, xn, rows, D, config.ff_norm_eps, nullptr, nullptr, mlp);
    float* hidden = ws.scratch.data<float>();
    cpu::Epilogue e1;
    e1.bias = bw.fc1.bias.data();
    e1.activation = cpu::Activation::GeluTanh;
    cpu::linear(tp, xn, rows, D, bw.fc1.weight, hidden, w.mlp_hidden, e1);
    cpu::Epilogue e2;
    e2.bias = bw.fc2.bias.data();
    e2.gate = ada + 5 * D;
    e2.gate_row_group = T;
    e2.gate_stride = stride;
    cpu::linear(tp, hidden, rows, w.mlp_hidden, bw.fc2.weight, h, D, e2);
  }

  void final_layer(int64_t B, Tensor* out, const IntermediateSink* o) {
    const int64_t D = this->D(), T = this->T(), rows = B * T;
    const float* ada = ws.adaln[w.final_group].data<float>() + w.final_adaln_col;
    const int64_t stride = w.groups[w.final_group].adaln.out();
    ThreadPool& tp = *pool;
    float* xn = ws.xn.data<float>();
    float* tokens = ws.scratch.data<float>();
    cpu::Modulation mod{ada, ada + D, T, stride};  // (shift, scale) in both layouts
    cpu::layer_norm(tp, ws.h.data<float>(), xn, rows, D, config.norm_eps, nullptr, nullptr, mod);
    cpu::Epilogue e;
    e.bias = w.final_linear.bias.data();
    cpu::linear(tp, xn, rows, D, w.final_linear.weight, tokens, out_features(), e);
    emit(o, config.layout == DitLayout::Official ? "final_layer.out" : "proj_out_2.out", tokens,
         {B, T, out_features()});
    cpu::unpatchify(tokens, B, config.out_channels, height, width, config.patch_size,
                    out->data<float>());
  }

  static Result<std::unique_ptr<Impl>> create(const SafetensorsFile& file, const DitConfig& config,
                                              const LoadOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->config = config;
    impl->options = options;
    if (options.check_finite) DITTO_RETURN_IF_ERROR(cpu::check_finite_weights(file));
    DITTO_ASSIGN_OR_RETURN(impl->w, dit::load_weights(file, config, options.dtype));
    impl->weights_bytes = weight_bytes(impl->w);
    impl->pool = std::make_unique<ThreadPool>(options.threads);
    impl->cpu_ops = std::make_unique<CpuOps>(*impl->pool);
    const int64_t groups = static_cast<int64_t>(impl->w.groups.size());
    impl->macs = dit::reference_macs(config, groups, impl->w.mlp_hidden);
    impl->info = dit::model_info(config);
    impl->backbone = dit::backbone(config, groups, impl->w.mlp_hidden);
    return impl;
  }

  // ---- BackboneKernels ----------------------------------------------------------------------------------
  BackendOps& ops() override { return *cpu_ops; }
  Status validate(const Tensor& x, const std::vector<float>& t, const Conditions& c) override {
    return dit::validate_forward_inputs(config, w.label_rows, x, t, c.labels, ForwardOptions{});
  }
  Status prelude(const Tensor& x, const std::vector<float>& t, const Conditions& c,
                 const IntermediateSink* capture) override {
    DITTO_RETURN_IF_ERROR(validate(x, t, c));
    height = x.dim(2);
    width = x.dim(3);
    DITTO_RETURN_IF_ERROR(ensure_workspace(x.dim(0)));
    run_prelude(x, t, c.labels, capture);
    return Status::Ok();
  }
  Status block(int64_t index, int64_t first_row, int64_t rows, bool perturb_attention) override {
    run_block(index, first_row, rows, perturb_attention);
    return Status::Ok();
  }
  Result<Tensor> final(int64_t rows, const IntermediateSink* capture) override {
    DITTO_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::F32, {rows, config.out_channels, height, width}));
    final_layer(rows, &out, capture);
    return out;
  }
  Status emit_block(int64_t index, int64_t rows, const IntermediateSink& capture) override {
    emit(&capture, block_name(index) + ".out", ws.h.data<float>(), {rows, T(), D()});
    return Status::Ok();
  }
  float* hidden() override { return ws.h.data<float>(); }
  int64_t hidden_row_size() const override { return T() * D(); }
  PartMacs part_macs() const override {
    return dit::part_macs(config, T(), static_cast<int64_t>(w.groups.size()), w.mlp_hidden);
  }
  uint64_t attention_macs(int64_t) const override { return dit::attention_macs(config, T()); }
};

DitModel::DitModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DitModel::~DitModel() = default;

const DitConfig& DitModel::config() const { return impl_->config; }
ThreadPool& DitModel::pool() { return *impl_->pool; }
MacCount DitModel::macs_per_sample() const { return impl_->macs; }
uint64_t DitModel::memory_bytes() const {
  return impl_->weights_bytes + impl_->ws_bytes.load(std::memory_order_relaxed);
}
const ModelInfo& DitModel::info() const { return impl_->info; }
const Backbone& DitModel::backbone() const { return impl_->backbone; }
int DitModel::threads() const { return impl_->pool->size(); }
BackboneKernels& DitModel::kernels() { return *impl_; }


Result<std::unique_ptr<DitModel>> DitModel::load(const std::string& path, const LoadOptions& options) {
  DITTO_ASSIGN_OR_RETURN(ModelFiles files, resolve_model_files(path));
  DITTO_ASSIGN_OR_RETURN(std::shared_ptr<SafetensorsFile> file, SafetensorsFile::open(files.weights));
  DITTO_ASSIGN_OR_RETURN(DitConfig config, parse_dit_config(files.config, *file));
  DITTO_ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl, Impl::create(*file, config, options));
  return std::unique_ptr<DitModel>(new DitModel(std::move(impl)));
}

Result<std::unique_ptr<DitModel>> DitModel::load(const std::string& weights_path, const DitConfig& config,
                                                 const LoadOptions& options) {
  DITTO_ASSIGN_OR_RETURN(std::shared_ptr<SafetensorsFile> file, SafetensorsFile::open(weights_path));
  DITTO_ASSIGN_OR_RETURN(DitLayout layout, dit::detect_layout(*file, ""));
  if (layout != config.layout)
    return model_load_error("Checkpoint \"" + weights_path + "\" has the " +
                            (layout == DitLayout::Official ? "official" : "diffusers") +
                            " DiT layout but the config says otherwise");
  DITTO_ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl, Impl::create(*file, config, options));
  return std::unique_ptr<DitModel>(new DitModel(std::move(impl)));
}

Result<std::unique_ptr<DitModel>> DitModel::load(const SafetensorsFile& weights, const DitConfig& config,
                                                 const LoadOptions& options) {
  DITTO_ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl, Impl::create(weights, config, options));
  return std::unique_ptr<DitModel>(new DitModel(std::move(impl)));
}

Result<Tensor> DitModel::forward(const Tensor& x, const std::vector<float>& t, const std::vector<int64_t>& y,
                                 const ForwardOptions& options) {
  return Denoiser::forward(x, t, Conditions{y, {}}, options);
}

Result<Tensor> DitModel::forward_with_cfg(const Tensor& x, const std::vector<float>& t,
                                          const std::vector<int64_t>& y, float cfg_scale, int64_t guided_channels,
                                          const ForwardOptions& options) {
  return Denoiser::forward_with_cfg(x, t, Conditions{y, {}}, cfg_scale, guided_channels, options);
}

}  // namespace ditto

// CudaDit: the DiT's BackboneKernels on the GPU (see dit_cuda.h for the math and the dtype policy): prelude,
// one block over a run of rows, final layer, with ops.h kernels; the block loop is the executor's, the input
// checks DitModel's own (dit::validate_forward_inputs), CFG the Denoiser's. All device work is enqueued on one
// stream per model; the host waits only to download captures, reduction results and the output.
#include "dit_cuda.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "cuda_backend_ops.h"
#include "pinned_staging.h"
#include "transfers.h"
#include "dit_cuda_weights.h"
#include "ditto/cpu/embed.h"
#include "ditto/executor.h"
#include "models/dit_family.h"
#include "models/dit_internal.h"
#include "ops.h"

namespace ditto::cuda {

namespace {

// Activation buffers for one batch size (device). `act` buffers hold GEMM inputs in the compute dtype
// (f32, or bf16 written by the producing kernel); h, conditioning and modulation vectors are always f32.
struct Workspace {
  int64_t batch = 0, rows = 0;
  DeviceMemory x_in, out, patches, patches_act, tokens;  // input image, output image, layout buffers
  DeviceMemory h;                                         // [rows, D] f32 residual stream
  DeviceMemory xn, qkv, attn, hidden;                     // act: [rows, D], [rows, 3D], [rows, D], [rows, mlp]
  DeviceMemory t_freq, t_freq_act, t_hidden;              // [B, 256] f32 + act, [B, D] act
  std::vector<DeviceMemory> t_emb, y_emb, c, silu_c, silu_c_act, adaln;  // per conditioning group

  uint64_t bytes() const {
    uint64_t total = 0;
    for (const DeviceMemory* m : {&x_in, &out, &patches, &patches_act, &tokens, &h, &xn, &qkv, &attn, &hidden, &t_freq,
                                  &t_freq_act, &t_hidden})
      total += m->bytes();
    for (const auto* v : {&t_emb, &y_emb, &c, &silu_c, &silu_c_act, &adaln})
      for (const DeviceMemory& m : *v) total += m.bytes();
    return total;
  }
};

}  // namespace

struct CudaDit::Impl final : BackboneKernels {
  DitConfig config;
  CudaDitOptions options;
  DeviceDitWeights w;
  cudaStream_t stream = nullptr;
  std::shared_ptr<void> stream_owner;  // destroys the stream once the model and its tensor ops are gone
  std::unique_ptr<CudaBackendOps> device_ops;
  std::shared_ptr<CudaBackendOps> tensor_ops;  // the binding's, for returned device tensors (own scratch)
  bool x_on_device = false;                    // this forward's x was a device tensor: so is its output
  ModelInfo info;
  Backbone backbone;
  Workspace ws;
  std::atomic<uint64_t> workspace_bytes{0};  // ws.bytes() + pos_dynamic's, read by memory_bytes() from any thread
  int64_t height = 0, width = 0;
  PinnedStaging t_freq_staging;  // the timestep sinusoid's host side (pinned: its upload needs no host wait)
  DeviceMemory pos_dynamic;  // diffusers pos table for a non-default grid
  int64_t pos_dynamic_h = 0, pos_dynamic_w = 0;


  bool use_bf16() const { return w.dtype == DType::BF16; }
  size_t act_size() const { return use_bf16() ? 2 : 4; }
  int64_t D() const { return config.hidden_size; }
  int64_t T() const { return (height / config.patch_size) * (width / config.patch_size); }
  int64_t patch_features() const { return config.in_channels * config.patch_size * config.patch_size; }
  int64_t out_features() const { return config.out_channels * config.patch_size * config.patch_size; }

  // ---- kernel wrappers in the compute dtype ---------------------------------------------------------
  // y (f32, row stride ldy) = epilogue(x · Wᵀ); x is an act buffer.
  Status linear(const void* x, int64_t m, const DeviceLinear& L, float* y, int64_t ldy, const Epilogue& ep) {
    if (use_bf16()) return gemm_bf16(static_cast<const bf16*>(x), m, L.k, L.k, L.w_bf16(), L.n, L.k, y, ldy, ep, stream);
    return gemm_f32(static_cast<const float*>(x), m, L.k, L.k, L.w_f32(), L.n, L.k, y, ldy, ep, stream);
  }
  // act buffer out [m, L.n] = epilogue(x · Wᵀ) (no gate): f32 directly, or bf16 through the epilogue's copy.
  Status linear_to_act(const void* x, int64_t m, const DeviceLinear& L, void* out, Epilogue ep) {
    if (!use_bf16()) return linear(x, m, L, static_cast<float*>(out), L.n, ep);
    ep.y_bf16 = static_cast<bf16*>(out);
    ep.ldy_bf16 = L.n;
    return linear(x, m, L, nullptr, 0, ep);
  }
  Status layer_norm_to_act(const float* x, void* out, int64_t rows, float eps, const Modulation& mod) {
    if (use_bf16()) return layer_norm_modulate(x, nullptr, static_cast<bf16*>(out), rows, D(), eps, nullptr, nullptr, mod, stream);
    return layer_norm_modulate(x, static_cast<float*>(out), nullptr, rows, D(), eps, nullptr, nullptr, mod, stream);
  }
  // f32 -> act (a copy in f32 mode, a rounding pass in bf16 mode).
  Status to_act(const float* x, void* out, int64_t n) {
    if (use_bf16()) return f32_to_bf16(x, static_cast<bf16*>(out), n, stream);
    DITTO_CUDA_RETURN(cudaMemcpyAsync(out, x, static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToDevice, stream),
                      "cudaMemcpyAsync");
    return Status::Ok();
  }
  // Self-attention over the fused qkv act buffer [B, T, 3D] -> attn act buffer [B, T, D].
  template <class E>
  Status attention_typed(int64_t B) {
    const int64_t D = this->D(), T = this->T(), H = config.num_heads;
    AttentionArgsT<E> a;
    a.batch = B;
    a.heads = H;
    a.q_len = a.kv_len = T;
    a.head_dim = D / H;
    const E* qkv = ws.qkv.as<E>();
    a.q = qkv;
    a.k = qkv + D;
    a.v = qkv + 2 * D;
    a.q_batch_stride = a.k_batch_stride = a.v_batch_stride = T * 3 * D;
    a.q_row_stride = a.k_row_stride = a.v_row_stride = 3 * D;
    a.out = ws.attn.as<E>();
    a.out_batch_stride = T * D;
    a.out_row_stride = D;
    a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(a.head_dim)));
    if constexpr (sizeof(E) == 2) return attention_bf16(a, stream);
    else return attention_f32(a, stream);
  }
  Status self_attention(int64_t B) { return use_bf16() ? attention_typed<bf16>(B) : attention_typed<float>(B); }

  // ---- workspace --------------------------------------------------------------------------------------
  Status ensure_workspace(int64_t B) {
    const int64_t rows = B * T();
    if (ws.rows >= rows && ws.batch >= B) return Status::Ok();
    ws = Workspace{};  // free first: the old buffers may be most of the device
    workspace_bytes.store(pos_dynamic.bytes(), std::memory_order_relaxed);
    Workspace n;
    const int64_t D = this->D();
    const size_t f = sizeof(float), a = act_size();
    auto alloc = [](DeviceMemory& m, int64_t count, size_t elem) -> Status {
      DITTO_ASSIGN_OR_RETURN(m, DeviceMemory::allocate(static_cast<size_t>(count) * elem));
      return Status::Ok();
    };
    const int64_t image = B * std::max(config.in_channels, config.out_channels) * height * width;
    DITTO_RETURN_IF_ERROR(alloc(n.x_in, image, f));
    DITTO_RETURN_IF_ERROR(alloc(n.out, image, f));
    DITTO_RETURN_IF_ERROR(alloc(n.patches, rows * patch_features(), f));
    DITTO_RETURN_IF_ERROR(alloc(n.patches_act, rows * patch_features(), a));
    DITTO_RETURN_IF_ERROR(alloc(n.tokens, rows * out_features(), f));
    DITTO_RETURN_IF_ERROR(alloc(n.h, rows * D, f));
    DITTO_RETURN_IF_ERROR(alloc(n.xn, rows * D, a));
    DITTO_RETURN_IF_ERROR(alloc(n.qkv, rows * 3 * D, a));
    DITTO_RETURN_IF_ERROR(alloc(n.attn, rows * D, a));
    DITTO_RETURN_IF_ERROR(alloc(n.hidden, rows * w.mlp_hidden, a));
    DITTO_RETURN_IF_ERROR(alloc(n.t_freq, B * dit::kTimestepFeatures, f));
    DITTO_RETURN_IF_ERROR(alloc(n.t_freq_act, B * dit::kTimestepFeatures, a));
    DITTO_RETURN_IF_ERROR(alloc(n.t_hidden, B * D, a));
    for (const auto& g : w.groups) {
      for (auto* v : {&n.t_emb, &n.y_emb, &n.c, &n.silu_c}) {
        v->emplace_back();
        DITTO_RETURN_IF_ERROR(alloc(v->back(), B * D, f));
      }
      n.silu_c_act.emplace_back();
      DITTO_RETURN_IF_ERROR(alloc(n.silu_c_act.back(), B * D, a));
      n.adaln.emplace_back();
      DITTO_RETURN_IF_ERROR(alloc(n.adaln.back(), B * g.adaln.n, f));
    }
    n.batch = B;
    n.rows = rows;
    ws = std::move(n);
    workspace_bytes.store(ws.bytes() + pos_dynamic.bytes(), std::memory_order_relaxed);
    return Status::Ok();
  }

  // The pos table for the current grid (see DitModel: diffusers recomputes it for other sizes).
  Result<const float*> pos_table() {
    const int64_t p = config.patch_size, gh = height / p, gw = width / p;
    if (height == config.input_size && width == config.input_size) return w.pos_table.as<const float>();
    if (pos_dynamic_h != gh || pos_dynamic_w != gw) {
      const double base_size = static_cast<double>(config.input_size / p);
      std::vector<float> table(static_cast<size_t>(gh * gw * D()));
      cpu::sincos_2d_table(gh, gw, D(), gh / base_size, gw / base_size, table.data());
      DITTO_ASSIGN_OR_RETURN(pos_dynamic, DeviceMemory::upload(table, false));
      workspace_bytes.store(ws.bytes() + pos_dynamic.bytes(), std::memory_order_relaxed);
      pos_dynamic_h = gh;
      pos_dynamic_w = gw;
    }
    return pos_dynamic.as<const float>();
  }

  // ---- capture (downloads only when a sink is set) -----------------------------------------------------
  Status emit(const IntermediateSink* o, std::string_view name, const float* device, Shape shape) {
    if (!o) return Status::Ok();
    DITTO_ASSIGN_OR_RETURN(Tensor t, Tensor::empty(DType::F32, std::move(shape)));
    DITTO_RETURN_IF_ERROR(copy_to_host(t.raw(), device, t.nbytes(), stream, "capture download"));
    (*o)(name, t);
    return Status::Ok();
  }
  // Columns [col, col+width) of a device [rows, stride] buffer.
  Status emit_columns(const IntermediateSink* o, std::string_view name, const float* device, int64_t rows,
                      int64_t stride, int64_t col, int64_t width) {
    if (!o) return Status::Ok();
    DITTO_ASSIGN_OR_RETURN(Tensor t, Tensor::empty(DType::F32, {rows, width}));
    DITTO_CUDA_RETURN(cudaMemcpy2DAsync(t.raw(), width * sizeof(float), device + col, stride * sizeof(float),
                                        width * sizeof(float), rows, cudaMemcpyDeviceToHost, stream),
                      "capture download");
    DITTO_CUDA_RETURN(cudaStreamSynchronize(stream), "capture");
    (*o)(name, t);
    return Status::Ok();
  }
  std::string block_name(int64_t i) const {
    return dit::block_prefix(config) + "." + std::to_string(i);
  }

  // ---- the forward -------------------------------------------------------------------------------------
  // Inputs: x is uploaded (counted) or, already a device tensor, copied on the device; the timestep sinusoid
  // (B x 256) is computed on the host into pinned staging and uploaded asynchronously (no host wait: a device x
  // makes the whole prelude enqueue-only); labels stay on the host (row offsets). Returns the host sinusoid (the
  // t_freq capture reads it).
  Result<const float*> upload_inputs(const Tensor& x, const std::vector<float>& t) {
    const int64_t B = x.dim(0);
    if (x_on_device) {
      DITTO_CUDA_RETURN(cudaMemcpyAsync(ws.x_in.get(), x.raw(), x.nbytes(), cudaMemcpyDeviceToDevice, stream), "copy x");
    } else {
      DITTO_RETURN_IF_ERROR(copy_to_device(ws.x_in.get(), x.raw(), x.nbytes(), stream, "upload x"));
    }
    const int64_t n = B * dit::kTimestepFeatures;
    DITTO_ASSIGN_OR_RETURN(float* t_freq_host, t_freq_staging.acquire(n));
    cpu::timestep_embedding(t.data(), B, dit::kTimestepFeatures, 10000.f, config.freq_shift, true, t_freq_host);
    DITTO_RETURN_IF_ERROR(t_freq_staging.upload(ws.t_freq.as<float>(), n, stream));
    return static_cast<const float*>(t_freq_host);
  }

  Status run_prelude(int64_t B, const std::vector<int64_t>& y, const float* t_freq_host,
                     const IntermediateSink* o) {
    const int64_t D = this->D(), T = this->T(), rows = B * T;
    const bool official = config.layout == DitLayout::Official;
    float* h = ws.h.as<float>();
    DITTO_RETURN_IF_ERROR(patchify(ws.x_in.as<float>(), B, config.in_channels, height, width, config.patch_size,
                                   ws.patches.as<float>(), stream));
    DITTO_RETURN_IF_ERROR(to_act(ws.patches.as<float>(), ws.patches_act.get(), rows * patch_features()));
    Epilogue pe;
    pe.bias = w.patch_embed.b();
    DITTO_RETURN_IF_ERROR(linear(ws.patches_act.get(), rows, w.patch_embed, h, D, pe));
    if (official) DITTO_RETURN_IF_ERROR(emit(o, "x_embedder.out", h, {B, T, D}));
    DITTO_ASSIGN_OR_RETURN(const float* pos, pos_table());
    for (int64_t b = 0; b < B; ++b) DITTO_RETURN_IF_ERROR(add(h + b * T * D, pos, h + b * T * D, T * D, stream));
    if (official) {
      DITTO_RETURN_IF_ERROR(emit(o, "x_embed", h, {B, T, D}));
    } else {
      DITTO_RETURN_IF_ERROR(emit(o, "pos_embed.table", pos, {1, T, D}));
      DITTO_RETURN_IF_ERROR(emit(o, "pos_embed.out", h, {B, T, D}));
    }
    if (o) {
      auto tf = Tensor::borrow(nullptr, const_cast<float*>(t_freq_host), DType::F32, {B, dit::kTimestepFeatures});
      (*o)("t_freq", tf);
    }

    DITTO_RETURN_IF_ERROR(to_act(ws.t_freq.as<float>(), ws.t_freq_act.get(), B * dit::kTimestepFeatures));
    for (size_t g = 0; g < w.groups.size(); ++g) {
      const DeviceConditionGroup& cg = w.groups[g];
      float* t_emb = ws.t_emb[g].as<float>();
      float* y_emb = ws.y_emb[g].as<float>();
      float* c = ws.c[g].as<float>();
      float* ada = ws.adaln[g].as<float>();
      Epilogue e1;
      e1.bias = cg.t_fc1.b();
      e1.activation = Activation::Silu;
      DITTO_RETURN_IF_ERROR(linear_to_act(ws.t_freq_act.get(), B, cg.t_fc1, ws.t_hidden.get(), e1));
      Epilogue e2;
      e2.bias = cg.t_fc2.b();
      DITTO_RETURN_IF_ERROR(linear(ws.t_hidden.get(), B, cg.t_fc2, t_emb, D, e2));
      for (int64_t b = 0; b < B; ++b)  // label rows (validated against label_rows)
        DITTO_CUDA_RETURN(cudaMemcpyAsync(y_emb + b * D, cg.label_table.as<float>() + y[b] * D, D * sizeof(float),
                                          cudaMemcpyDeviceToDevice, stream),
                          "label lookup");
      DITTO_RETURN_IF_ERROR(add(t_emb, y_emb, c, B * D, stream));
      DITTO_RETURN_IF_ERROR(silu(c, ws.silu_c[g].as<float>(), B * D, stream));
      DITTO_RETURN_IF_ERROR(to_act(ws.silu_c[g].as<float>(), ws.silu_c_act[g].get(), B * D));
      Epilogue ea;
      ea.bias = cg.adaln.b();
      const int64_t cols = cg.adaln.n;
      DITTO_RETURN_IF_ERROR(linear(ws.silu_c_act[g].get(), B, cg.adaln, ada, cols, ea));
      if (official) {
        DITTO_RETURN_IF_ERROR(emit(o, "t_emb", t_emb, {B, D}));
        DITTO_RETURN_IF_ERROR(emit(o, "y_emb", y_emb, {B, D}));
        DITTO_RETURN_IF_ERROR(emit(o, "c", c, {B, D}));
      }
      if (o) {
        for (int b : cg.blocks) {
          if (!official) DITTO_RETURN_IF_ERROR(emit(o, block_name(b) + ".norm1.emb.out", c, {B, D}));
          DITTO_RETURN_IF_ERROR(emit_columns(o, block_name(b) + (official ? ".adaLN" : ".norm1.linear.out"), ada, B,
                                             cols, w.blocks[b].adaln_col, 6 * D));
        }
        if (official && static_cast<int>(g) == w.final_group)
          DITTO_RETURN_IF_ERROR(emit_columns(o, "final_layer.adaLN", ada, B, cols, w.final_adaln_col, 2 * D));
      }
    }
    return Status::Ok();
  }

  // h[b0, b0+B) <- block_i(h), in place through the gated-residual epilogues; perturb: attention output = V.
  Status run_block(int64_t i, int64_t b0, int64_t B, bool perturb) {
    const int64_t D = this->D(), T = this->T(), rows = B * T;
    const DeviceBlock& bw = w.blocks[i];
    const int64_t stride = w.groups[bw.group].adaln.n;
    const float* ada = ws.adaln[bw.group].as<float>() + b0 * stride + bw.adaln_col;
    float* h = ws.h.as<float>() + b0 * T * D;

    // (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp), each D wide.
    DITTO_RETURN_IF_ERROR(layer_norm_to_act(h, ws.xn.get(), rows, config.norm_eps, Modulation{ada, ada + D, T, stride}));
    Epilogue eq;
    eq.bias = bw.qkv.b();
    DITTO_RETURN_IF_ERROR(linear_to_act(ws.xn.get(), rows, bw.qkv, ws.qkv.get(), eq));
    if (perturb) {  // attn[r, :] = v[r, :] = qkv[r, 2D:3D]
      const size_t a = act_size();
      DITTO_CUDA_RETURN(cudaMemcpy2DAsync(ws.attn.get(), D * a, static_cast<const char*>(ws.qkv.get()) + 2 * D * a, 3 * D * a,
                                          D * a, rows, cudaMemcpyDeviceToDevice, stream),
                        "perturbed attention");
    } else {
      DITTO_RETURN_IF_ERROR(self_attention(B));
    }
    Epilogue ep;
    ep.bias = bw.proj.b();
    ep.gate = ada + 2 * D;
    ep.gate_row_group = T;
    ep.gate_stride = stride;
    DITTO_RETURN_IF_ERROR(linear(ws.attn.get(), rows, bw.proj, h, D, ep));

    DITTO_RETURN_IF_ERROR(
        layer_norm_to_act(h, ws.xn.get(), rows, config.ff_norm_eps, Modulation{ada + 3 * D, ada + 4 * D, T, stride}));
    Epilogue e1;
    e1.bias = bw.fc1.b();
    e1.activation = Activation::GeluTanh;
    DITTO_RETURN_IF_ERROR(linear_to_act(ws.xn.get(), rows, bw.fc1, ws.hidden.get(), e1));
    Epilogue e2;
    e2.bias = bw.fc2.b();
    e2.gate = ada + 5 * D;
    e2.gate_row_group = T;
    e2.gate_stride = stride;
    return linear(ws.hidden.get(), rows, bw.fc2, h, D, e2);
  }

  Status final_layer(int64_t B, const IntermediateSink* o) {
    const int64_t D = this->D(), T = this->T(), rows = B * T;
    const float* ada = ws.adaln[w.final_group].as<float>() + w.final_adaln_col;
    const int64_t stride = w.groups[w.final_group].adaln.n;
    DITTO_RETURN_IF_ERROR(layer_norm_to_act(ws.h.as<float>(), ws.xn.get(), rows, config.norm_eps,
                                            Modulation{ada, ada + D, T, stride}));  // (shift, scale)
    Epilogue e;
    e.bias = w.final_linear.b();
    float* tokens = ws.tokens.as<float>();
    DITTO_RETURN_IF_ERROR(linear(ws.xn.get(), rows, w.final_linear, tokens, out_features(), e));
    DITTO_RETURN_IF_ERROR(emit(o, config.layout == DitLayout::Official ? "final_layer.out" : "proj_out_2.out", tokens,
                               {B, T, out_features()}));
    return unpatchify(tokens, B, config.out_channels, height, width, config.patch_size, ws.out.as<float>(), stream);
  }

  // ---- BackboneKernels ----------------------------------------------------------------------------------
  BackendOps& ops() override { return *device_ops; }
  Status validate(const Tensor& x, const std::vector<float>& t, const Conditions& c) override {
    return dit::validate_forward_inputs(config, w.label_rows, x, t, c.labels, ForwardOptions{});
  }
  Status prelude(const Tensor& x, const std::vector<float>& t, const Conditions& c,
                 const IntermediateSink* capture) override {
    DITTO_RETURN_IF_ERROR(validate(x, t, c));
    DITTO_CUDA_RETURN(cudaSetDevice(options.device), "cudaSetDevice");
    x_on_device = !x.on_host();
    height = x.dim(2);
    width = x.dim(3);
    DITTO_RETURN_IF_ERROR(ensure_workspace(x.dim(0)));
    DITTO_ASSIGN_OR_RETURN(const float* t_freq_host, upload_inputs(x, t));
    return run_prelude(x.dim(0), c.labels, t_freq_host, capture);
  }
  Status block(int64_t index, int64_t first_row, int64_t rows, bool perturb_attention) override {
    return run_block(index, first_row, rows, perturb_attention);
  }
  Result<Tensor> final(int64_t rows, const IntermediateSink* capture) override {
    DITTO_RETURN_IF_ERROR(final_layer(rows, capture));
    const Shape shape{rows, config.out_channels, height, width};
    if (x_on_device) {  // the output stays on the device, in a buffer of its own (no host wait)
      DITTO_ASSIGN_OR_RETURN(BackendBuffer buf, device_ops->allocate(shape_numel(shape)));
      DITTO_CUDA_RETURN(cudaMemcpyAsync(buf.data.get(), ws.out.get(), buf.bytes(), cudaMemcpyDeviceToDevice, stream),
                        "copy out");
      float* data = buf.data.get();
      return Tensor::borrow_device(std::shared_ptr<const void>(buf.data), data, DType::F32, shape, options.device);
    }
    DITTO_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::F32, shape));
    DITTO_RETURN_IF_ERROR(copy_to_host(out.raw(), ws.out.get(), out.nbytes(), stream, "download out"));
    return out;
  }
  Status emit_block(int64_t index, int64_t rows, const IntermediateSink& capture) override {
    return emit(&capture, block_name(index) + ".out", ws.h.as<float>(), {rows, T(), D()});
  }
  float* hidden() override { return ws.h.as<float>(); }
  int64_t hidden_row_size() const override { return T() * D(); }
  PartMacs part_macs() const override {
    return dit::part_macs(config, T(), static_cast<int64_t>(w.groups.size()), w.mlp_hidden);
  }
  uint64_t attention_macs(int64_t) const override { return dit::attention_macs(config, T()); }
};

CudaDit::CudaDit(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaDit::~CudaDit() = default;

Result<std::unique_ptr<CudaDit>> CudaDit::load(const std::string& path, const CudaDitOptions& options) {
  DITTO_ASSIGN_OR_RETURN(ModelFiles files, resolve_model_files(path));
  DITTO_ASSIGN_OR_RETURN(std::shared_ptr<SafetensorsFile> file, SafetensorsFile::open(files.weights));
  DITTO_ASSIGN_OR_RETURN(DitConfig config, parse_dit_config(files.config, *file));
  int count = 0;
  DITTO_CUDA_RETURN(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  if (options.device < 0 || options.device >= count)
    return Status(StatusCode::kCuda, "cuda:" + std::to_string(options.device) + " does not exist (" +
                                         std::to_string(count) + " visible devices)");
  DITTO_CUDA_RETURN(cudaSetDevice(options.device), "cudaSetDevice");
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->options = options;
  DITTO_CUDA_RETURN(cudaStreamCreateWithFlags(&impl->stream, cudaStreamNonBlocking), "cudaStreamCreate");
  impl->stream_owner = std::shared_ptr<void>(impl->stream, [](void* s) { cudaStreamDestroy(static_cast<cudaStream_t>(s)); });
  DITTO_ASSIGN_OR_RETURN(impl->w, load_device_dit_weights(*file, config, options.dtype));
  impl->device_ops = std::make_unique<CudaBackendOps>(impl->stream, options.device, impl->stream_owner);
  impl->tensor_ops = std::make_shared<CudaBackendOps>(impl->stream, options.device, impl->stream_owner);
  impl->info = dit::model_info(config);
  impl->backbone = dit::backbone(config, static_cast<int64_t>(impl->w.groups.size()), impl->w.mlp_hidden);
  return std::unique_ptr<CudaDit>(new CudaDit(std::move(impl)));
}

const DitConfig& CudaDit::config() const { return impl_->config; }
DType CudaDit::dtype() const { return impl_->w.dtype; }
size_t CudaDit::weight_bytes() const { return impl_->w.bytes; }
uint64_t CudaDit::memory_bytes() const {
  return impl_->w.bytes + impl_->workspace_bytes.load(std::memory_order_relaxed);
}

const ModelInfo& CudaDit::info() const { return impl_->info; }
const Backbone& CudaDit::backbone() const { return impl_->backbone; }
std::string CudaDit::device() const { return "cuda:" + std::to_string(impl_->options.device); }
BackboneKernels& CudaDit::kernels() { return *impl_; }
std::shared_ptr<BackendOps> CudaDit::tensor_ops() { return impl_->tensor_ops; }

Result<Tensor> CudaDit::forward(const Tensor& x, const std::vector<float>& t, const std::vector<int64_t>& y,
                                const ForwardOptions& options) {
  return Denoiser::forward(x, t, Conditions{y, {}}, options);
}

Result<Tensor> CudaDit::forward_with_cfg(const Tensor& x, const std::vector<float>& t, const std::vector<int64_t>& y,
                                         float cfg_scale, int64_t guided_channels, const ForwardOptions& options) {
  return Denoiser::forward_with_cfg(x, t, Conditions{y, {}}, cfg_scale, guided_channels, options);
}

Result<double> CudaDit::time_forward_ms(const Tensor& x, const std::vector<float>& t, const std::vector<int64_t>& y,
                                        int iters) {
  DITTO_RETURN_IF_ERROR(forward(x, t, y).status());  // warm-up (and input checks)
  cudaEvent_t start = nullptr, stop = nullptr;
  DITTO_CUDA_RETURN(cudaEventCreate(&start), "cudaEventCreate");
  Status s = cuda_status(cudaEventCreate(&stop), "cudaEventCreate");
  if (s.ok()) s = cuda_status(cudaEventRecord(start, impl_->stream), "cudaEventRecord");
  for (int i = 0; s.ok() && i < std::max(iters, 1); ++i) s = forward(x, t, y).status();
  if (s.ok()) s = cuda_status(cudaEventRecord(stop, impl_->stream), "cudaEventRecord");
  if (s.ok()) s = cuda_status(cudaEventSynchronize(stop), "CUDA DiT forward (timed)");
  float ms = 0.f;
  if (s.ok()) s = cuda_status(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
  cudaEventDestroy(start);
  if (stop) cudaEventDestroy(stop);
  DITTO_RETURN_IF_ERROR(s);
  return static_cast<double>(ms) / std::max(iters, 1);
}

}  // namespace ditto::cuda

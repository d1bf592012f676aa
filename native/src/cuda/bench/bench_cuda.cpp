// GPU benchmark of the CUDA backend on the shapes the brief names, with random weights (bf16 compute):
//   * bf16 GEMM peak measured in this run (8192³: cuBLASLt when loaded, and our WMMA kernel)
//   * DiT-XL/2 forward (28 blocks, hidden 1152, 16 heads, MLP 4608) at 256 / 1024 tokens, batch 1 / 8 / 32, with
//     gemm_bf16's dispatch in effect; at T=256 B=32 and T=1024 B=8 the ms of each op of one block
//     ("breakdown dit_xl2 T=… B=… <op>") and, when cuBLASLt is loaded, both again with WMMA forced ("… wmma …")
//   * one Flux-size double block (hidden 3072, 24 heads, 4096 image + 512 text tokens, joint attention)
//   * one Wan-1.3B block (hidden 1536, 12 heads, FFN 8960, 32,760 tokens, cross-attention to 512 text tokens)
// Prints one JSON object per line ({"case", "ms", "tflops", "mfu"}); examples/bench/cuda_torch.py measures
// PyTorch on identical shapes and scripts/gpu-check.sh joins the two into a table.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ops.h"

namespace dc = ditto::cuda;
using dc::bf16;

namespace {

void die_if(const ditto::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "bench_cuda: %s\n", s.message().c_str());
    std::exit(1);
  }
}

// Device allocations that live until exit; filled with small random values by a host-side generator.
template <class T>
T* alloc(size_t n, float scale = 0.f) {
  T* p = nullptr;
  die_if(dc::cuda_status(cudaMalloc(&p, n * sizeof(T)), "cudaMalloc"));
  if (scale != 0.f) {
    std::vector<float> host(n);
    uint32_t s = uint32_t(n * 2654435761u) | 1u;
    for (auto& v : host) { s ^= s << 13; s ^= s >> 17; s ^= s << 5; v = scale * (float(s % 20001) / 10000.f - 1.f); }
    if constexpr (sizeof(T) == 2) {
      std::vector<bf16> hb(n);
      for (size_t i = 0; i < n; ++i) hb[i] = __float2bfloat16_rn(host[i]);
      cudaMemcpy(p, hb.data(), n * 2, cudaMemcpyHostToDevice);
    } else {
      cudaMemcpy(p, host.data(), n * 4, cudaMemcpyHostToDevice);
    }
  } else {
    cudaMemset(p, 0, n * sizeof(T));
  }
  return p;
}

double time_ms(const std::function<void()>& fn, int iters) {
  fn();  // warm-up
  cudaDeviceSynchronize();
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a);
  for (int i = 0; i < iters; ++i) fn();
  cudaEventRecord(b);
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  die_if(dc::cuda_status(cudaGetLastError(), "benchmark"));
  return double(ms) / iters;
}

double g_peak_tflops = 0;

void emit(const std::string& name, double ms, double flops) {
  double tflops = flops / (ms * 1e-3) / 1e12;
  std::printf("{\"case\": \"%s\", \"ms\": %.4f, \"tflops\": %.2f, \"mfu\": %.4f}\n", name.c_str(), ms, tflops,
              g_peak_tflops > 0 ? tflops / g_peak_tflops : 0.0);
  std::fflush(stdout);
}

void linear(const bf16* x, int64_t m, int64_t k, const bf16* w, int64_t n, float* y, const dc::Epilogue& ep) {
  die_if(dc::gemm_bf16(x, m, k, k, w, n, k, y, n, ep, nullptr));
}

dc::Epilogue ep_bias(const float* bias, dc::Activation act = dc::Activation::None, bf16* yb = nullptr, int64_t ldb = 0) {
  dc::Epilogue e;
  e.bias = bias; e.activation = act; e.y_bf16 = yb; e.ldy_bf16 = ldb;
  return e;
}
dc::Epilogue ep_gated(const float* bias, const float* gate, int64_t group, int64_t stride) {
  dc::Epilogue e;
  e.bias = bias; e.gate = gate; e.gate_row_group = group; e.gate_stride = stride;
  return e;
}

void self_attention(const bf16* qkv, bf16* out, int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim) {
  const int64_t d = heads * head_dim;
  dc::AttentionArgsT<bf16> a;
  a.batch = batch; a.heads = heads; a.q_len = tokens; a.kv_len = tokens; a.head_dim = head_dim;
  a.q = qkv; a.q_batch_stride = tokens * 3 * d; a.q_row_stride = 3 * d;
  a.k = qkv + d; a.k_batch_stride = tokens * 3 * d; a.k_row_stride = 3 * d;
  a.v = qkv + 2 * d; a.v_batch_stride = tokens * 3 * d; a.v_row_stride = 3 * d;
  a.out = out; a.out_batch_stride = tokens * d; a.out_row_stride = d;
  a.scale = 1.f / std::sqrt(float(head_dim));
  die_if(dc::attention_bf16(a, nullptr));
}

// One adaLN-Zero DiT block (Peebles & Xie): the modulation vectors come from a per-block Linear of c.
struct DitBlockWeights {
  bf16 *ada, *qkv, *proj, *fc1, *fc2;
  float *ada_b, *qkv_b, *proj_b, *fc1_b, *fc2_b;
};

// The DiT-XL/2 forward (depth blocks) with the GEMM dispatch in effect; `suffix` names the row (" wmma" when the
// WMMA kernel is forced). With `breakdown`, also the ms of each op of block 0 timed alone (same buffers), as
// {"case": "breakdown dit_xl2 T=… B=… <op>"} rows, and the block as a whole ("block") for the launch overhead.
void dit_forward_bench(int64_t batch, int64_t tokens, int depth, const std::vector<DitBlockWeights>& blocks,
                       const std::string& suffix, bool breakdown) {
  const int64_t D = 1152, H = 16, Dh = 72, F = 4608, M = batch * tokens;
  float* h = alloc<float>(M * D, 1.f);
  bf16* c = alloc<bf16>(batch * D, 1.f);
  float* mod = alloc<float>(batch * 6 * D);
  bf16* xn = alloc<bf16>(M * D);
  bf16* qkv = alloc<bf16>(M * 3 * D);
  bf16* attn = alloc<bf16>(M * D);
  bf16* mid = alloc<bf16>(M * F);
  const dc::Modulation m1{mod, mod + D, tokens, 6 * D}, m2{mod + 3 * D, mod + 4 * D, tokens, 6 * D};
  auto adaln = [&](const DitBlockWeights& w) { linear(c, batch, D, w.ada, 6 * D, mod, ep_bias(w.ada_b)); };
  auto ln1 = [&] { die_if(dc::layer_norm_modulate(h, nullptr, xn, M, D, 1e-6f, nullptr, nullptr, m1, nullptr)); };
  auto ln2 = [&] { die_if(dc::layer_norm_modulate(h, nullptr, xn, M, D, 1e-6f, nullptr, nullptr, m2, nullptr)); };
  auto qkv_gemm = [&](const DitBlockWeights& w) {
    linear(xn, M, D, w.qkv, 3 * D, nullptr, ep_bias(w.qkv_b, dc::Activation::None, qkv, 3 * D));
  };
  auto attention = [&] { self_attention(qkv, attn, batch, tokens, H, Dh); };
  auto proj = [&](const DitBlockWeights& w) { linear(attn, M, D, w.proj, D, h, ep_gated(w.proj_b, mod + 2 * D, tokens, 6 * D)); };
  auto fc1 = [&](const DitBlockWeights& w) {
    linear(xn, M, D, w.fc1, F, nullptr, ep_bias(w.fc1_b, dc::Activation::GeluTanh, mid, F));
  };
  auto fc2 = [&](const DitBlockWeights& w) { linear(mid, M, F, w.fc2, D, h, ep_gated(w.fc2_b, mod + 5 * D, tokens, 6 * D)); };
  auto block = [&](const DitBlockWeights& w) {
    adaln(w); ln1(); qkv_gemm(w); attention(); proj(w); ln2(); fc1(w); fc2(w);
  };
  auto forward = [&] {
    for (int l = 0; l < depth; ++l) block(blocks[l]);
  };
  const double attn_flops = 4.0 * batch * H * tokens * tokens * Dh;
  const double per_block_flops = 2.0 * M * D * (3 * D + D + 2 * F) + attn_flops + 2.0 * batch * D * 6 * D;
  const std::string shape = "dit_xl2 T=" + std::to_string(tokens) + " B=" + std::to_string(batch);
  double ms = time_ms(forward, 3);
  emit(shape + suffix, ms, per_block_flops * depth);
  if (breakdown) {
    const DitBlockWeights& w = blocks[0];
    const std::string pre = "breakdown " + shape + suffix + " ";
    const int it = 20;
    emit(pre + "adaln_linear", time_ms([&] { adaln(w); }, it), 2.0 * batch * D * 6 * D);
    emit(pre + "ln_modulate x2", time_ms([&] { ln1(); ln2(); }, it), 0);
    emit(pre + "qkv", time_ms([&] { qkv_gemm(w); }, it), 2.0 * M * D * 3 * D);
    emit(pre + "attention", time_ms(attention, it), attn_flops);
    emit(pre + "proj", time_ms([&] { proj(w); }, it), 2.0 * M * D * D);
    emit(pre + "fc1", time_ms([&] { fc1(w); }, it), 2.0 * M * D * F);
    emit(pre + "fc2", time_ms([&] { fc2(w); }, it), 2.0 * M * F * D);
    emit(pre + "block", time_ms([&] { block(w); }, it), per_block_flops);
  }
  cudaFree(h); cudaFree(c); cudaFree(mod); cudaFree(xn); cudaFree(qkv); cudaFree(attn); cudaFree(mid);
}

// Flux double-stream block: image and text streams with their own weights, joint attention over both.
void flux_double_block_bench() {
  const int64_t D = 3072, H = 24, Dh = 128, F = 12288, Ti = 4096, Tt = 512, T = Ti + Tt;
  struct Stream { int64_t rows, offset; bf16 *qkv_w, *proj_w, *fc1_w, *fc2_w; float *b3, *b1, *bf, *gate; };
  Stream s[2] = {{Tt, 0}, {Ti, Tt}};
  for (auto& st : s) {
    st.qkv_w = alloc<bf16>(3 * D * D, 0.02f); st.proj_w = alloc<bf16>(D * D, 0.02f);
    st.fc1_w = alloc<bf16>(F * D, 0.02f); st.fc2_w = alloc<bf16>(D * F, 0.02f);
    st.b3 = alloc<float>(3 * D, 0.05f); st.b1 = alloc<float>(D, 0.05f); st.bf = alloc<float>(F, 0.05f);
    st.gate = alloc<float>(6 * D, 0.5f);
  }
  float* h = alloc<float>(T * D, 1.f);
  bf16* xn = alloc<bf16>(T * D);
  bf16* qkv = alloc<bf16>(T * 3 * D);
  bf16* attn = alloc<bf16>(T * D);
  bf16* mid = alloc<bf16>(T * F);
  auto block = [&] {
    for (auto& st : s) {
      dc::Modulation m{st.gate, st.gate + D, st.rows, 0};
      die_if(dc::layer_norm_modulate(h + st.offset * D, nullptr, xn + st.offset * D, st.rows, D, 1e-6f, nullptr,
                                     nullptr, m, nullptr));
      linear(xn + st.offset * D, st.rows, D, st.qkv_w, 3 * D, nullptr,
             ep_bias(st.b3, dc::Activation::None, qkv + st.offset * 3 * D, 3 * D));
    }
    self_attention(qkv, attn, 1, T, H, Dh);
    for (auto& st : s) {
      linear(attn + st.offset * D, st.rows, D, st.proj_w, D, h + st.offset * D, ep_gated(st.b1, st.gate + 2 * D, st.rows, 0));
      dc::Modulation m{st.gate + 3 * D, st.gate + 4 * D, st.rows, 0};
      die_if(dc::layer_norm_modulate(h + st.offset * D, nullptr, xn + st.offset * D, st.rows, D, 1e-6f, nullptr,
                                     nullptr, m, nullptr));
      linear(xn + st.offset * D, st.rows, D, st.fc1_w, F, nullptr,
             ep_bias(st.bf, dc::Activation::GeluTanh, mid + st.offset * F, F));
      linear(mid + st.offset * F, st.rows, F, st.fc2_w, D, h + st.offset * D,
             ep_gated(st.b1, st.gate + 5 * D, st.rows, 0));
    }
  };
  const double flops = 2.0 * T * D * (3 * D + D + 2 * F) + 4.0 * H * T * T * Dh;
  emit("flux_double_block T=4096+512", time_ms(block, 5), flops);
}

// Wan 2.1 1.3B block: self-attention over the video tokens, cross-attention to the text, FFN (GELU-tanh).
void wan_block_bench() {
  const int64_t D = 1536, H = 12, Dh = 128, F = 8960, T = 32760, Tt = 512;
  bf16 *qkv_w = alloc<bf16>(3 * D * D, 0.02f), *o_w = alloc<bf16>(D * D, 0.02f), *cq_w = alloc<bf16>(D * D, 0.02f);
  bf16 *ckv_w = alloc<bf16>(2 * D * D, 0.02f), *co_w = alloc<bf16>(D * D, 0.02f);
  bf16 *fc1_w = alloc<bf16>(F * D, 0.02f), *fc2_w = alloc<bf16>(D * F, 0.02f);
  float *b = alloc<float>(3 * D, 0.05f), *bf = alloc<float>(F, 0.05f), *mod = alloc<float>(6 * D, 0.5f);
  float* h = alloc<float>(T * D, 1.f);
  bf16 *xn = alloc<bf16>(T * D), *qkv = alloc<bf16>(T * 3 * D), *attn = alloc<bf16>(T * D), *mid = alloc<bf16>(T * F);
  bf16 *text = alloc<bf16>(Tt * D, 1.f), *ckv = alloc<bf16>(Tt * 2 * D), *q = alloc<bf16>(T * D);
  auto block = [&] {
    dc::Modulation m1{mod, mod + D, T, 0};
    die_if(dc::layer_norm_modulate(h, nullptr, xn, T, D, 1e-6f, nullptr, nullptr, m1, nullptr));
    linear(xn, T, D, qkv_w, 3 * D, nullptr, ep_bias(b, dc::Activation::None, qkv, 3 * D));
    self_attention(qkv, attn, 1, T, H, Dh);
    linear(attn, T, D, o_w, D, h, ep_gated(b, mod + 2 * D, T, 0));
    die_if(dc::layer_norm_modulate(h, nullptr, xn, T, D, 1e-6f, nullptr, nullptr, dc::Modulation{}, nullptr));
    linear(xn, T, D, cq_w, D, nullptr, ep_bias(b, dc::Activation::None, q, D));
    linear(text, Tt, D, ckv_w, 2 * D, nullptr, ep_bias(b, dc::Activation::None, ckv, 2 * D));
    dc::AttentionArgsT<bf16> a;
    a.batch = 1; a.heads = H; a.q_len = T; a.kv_len = Tt; a.head_dim = Dh;
    a.q = q; a.q_batch_stride = T * D; a.q_row_stride = D;
    a.k = ckv; a.k_batch_stride = Tt * 2 * D; a.k_row_stride = 2 * D;
    a.v = ckv + D; a.v_batch_stride = Tt * 2 * D; a.v_row_stride = 2 * D;
    a.out = attn; a.out_batch_stride = T * D; a.out_row_stride = D;
    a.scale = 1.f / std::sqrt(float(Dh));
    die_if(dc::attention_bf16(a, nullptr));
    linear(attn, T, D, co_w, D, h, ep_gated(b, mod + 2 * D, T, 0));
    dc::Modulation m2{mod + 3 * D, mod + 4 * D, T, 0};
    die_if(dc::layer_norm_modulate(h, nullptr, xn, T, D, 1e-6f, nullptr, nullptr, m2, nullptr));
    linear(xn, T, D, fc1_w, F, nullptr, ep_bias(bf, dc::Activation::GeluTanh, mid, F));
    linear(mid, T, F, fc2_w, D, h, ep_gated(b, mod + 5 * D, T, 0));
  };
  const double flops = 2.0 * T * D * (3 * D + D + D + D + 2 * F) + 2.0 * Tt * D * 2 * D + 4.0 * H * T * T * Dh +
                       4.0 * H * T * Tt * Dh;
  emit("wan13b_block T=32760", time_ms(block, 2), flops);
}

}  // namespace

int main(int argc, char** argv) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::fprintf(stderr, "bench_cuda: no CUDA device\n");
    return 77;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("{\"device\": \"%s\", \"sm\": %d%d, \"cublaslt\": %s}\n", prop.name, prop.major, prop.minor,
              dc::have_cublaslt() ? "true" : "false");

  std::string dispatch = dc::gemm_backend_info();
  for (char& ch : dispatch) if (ch == '"' || ch == '\\') ch = '\'';  // keep the line valid JSON
  std::printf("{\"gemm_dispatch\": \"%s\"}\n", dispatch.c_str());

  // Peak: the best bf16 GEMM rate of this run (cuBLASLt when loaded, and our WMMA kernel) is the MFU denominator.
  const int64_t P = 8192;
  bf16 *a = alloc<bf16>(P * P, 1.f), *w = alloc<bf16>(P * P, 1.f);
  float* y = alloc<float>(P * P);
  const double gemm_flops = 2.0 * P * P * P;
  double ours = time_ms([&] { die_if(dc::gemm_bf16_wmma(a, P, P, P, w, P, P, y, P, dc::Epilogue{}, nullptr)); }, 5);
  double best = ours, lt = 0;
  if (dc::have_cublaslt()) {
    lt = time_ms([&] { die_if(dc::gemm_bf16_cublaslt(a, P, P, P, w, P, P, y, P, dc::Epilogue{}, nullptr)); }, 5);
    if (lt < best) best = lt;
  }
  g_peak_tflops = gemm_flops / (best * 1e-3) / 1e12;
  if (lt > 0) emit("gemm_cublaslt 8192^3", lt, gemm_flops);
  emit("gemm_wmma 8192^3", ours, gemm_flops);
  std::printf("{\"peak_bf16_tflops\": %.2f}\n", g_peak_tflops);
  cudaFree(a); cudaFree(w); cudaFree(y);

  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const int depth = 28;
  const int64_t D = 1152, F = 4608;
  std::vector<DitBlockWeights> blocks(depth);
  for (auto& bw : blocks) {
    bw.ada = alloc<bf16>(6 * D * D, 0.02f); bw.qkv = alloc<bf16>(3 * D * D, 0.03f); bw.proj = alloc<bf16>(D * D, 0.03f);
    bw.fc1 = alloc<bf16>(F * D, 0.03f); bw.fc2 = alloc<bf16>(D * F, 0.015f);
    bw.ada_b = alloc<float>(6 * D, 0.05f); bw.qkv_b = alloc<float>(3 * D, 0.05f); bw.proj_b = alloc<float>(D, 0.05f);
    bw.fc1_b = alloc<float>(F, 0.05f); bw.fc2_b = alloc<float>(D, 0.05f);
  }
  for (int64_t tokens : {256, 1024})
    for (int64_t batch : {1, 8, 32}) {
      if (quick && batch > 1) continue;
      const bool breakdown = (tokens == 256 && batch == 32) || (tokens == 1024 && batch == 8);
      dit_forward_bench(batch, tokens, depth, blocks, "", breakdown);
      if (breakdown && dc::have_cublaslt()) {  // the same forward on the WMMA kernel: the dispatch's gain
        dc::set_gemm_backend(dc::GemmBackend::Wmma);
        dit_forward_bench(batch, tokens, depth, blocks, " wmma", true);
        dc::set_gemm_backend(dc::GemmBackend::Auto);
      }
    }
  flux_double_block_bench();
  wan_block_bench();
  if (dc::have_cublaslt()) {  // which GEMMs fused their epilogue in cuBLASLt ("direct") and which were staged
    std::string plans = dc::cublaslt_plans();
    for (char& ch : plans) if (ch == '"' || ch == '\\') ch = '\'';
    std::printf("{\"cublaslt_plans\": \"%s\"}\n", plans.c_str());
  }
  return 0;
}

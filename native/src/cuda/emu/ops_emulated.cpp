// ops.h implemented on the CPU with the engine's reference kernels, so the CUDA DiT host code (dit_cuda.cpp,
// dit_cuda_weights.cpp: weight upload, workspace, the block sequence, strides, captures, block actions) runs
// and is checked against the golden cases on machines without a GPU (ctest test_cuda_dit_emulated). It
// proves the orchestration, not the kernels: those are test_cuda_ops' job on a GPU.
// f32 ops: the CPU engine's GEMM (packed, f32 accumulation) and tiled attention, layer_norm_reference. bf16 ops: the same
// on bf16 operands with bf16-rounded outputs where the GPU kernel writes bf16 (GEMM epilogue copy, LayerNorm,
// attention output); the GPU additionally rounds P to bf16 inside attention, so real bf16 errors are a bit
// larger than emulated ones.
#include "ops.h"
#include <algorithm>
#include <cmath>
#include <vector>
#include "ditto/cpu/attention.h"
#include "ditto/cpu/elementwise.h"
#include "ditto/cpu/embed.h"
#include "ditto/cpu/gemm.h"
#include "ditto/cpu/norms.h"
#include "ditto/thread_pool.h"
namespace ditto::cuda {
Status cuda_status(cudaError_t e, const char* what) { return e == cudaSuccess ? Status::Ok() : Status(StatusCode::kCuda, what); }
static float act(float v, Activation a) { return a == Activation::GeluTanh ? cpu::gelu_tanh_scalar(v) : a == Activation::Silu ? cpu::silu_scalar(v) : v; }
// A small pool per calling thread (the caller plus one worker): a ThreadPool takes one parallel_for at a time, and
// each model's queue thread runs its own forwards.
static ThreadPool& emu_pool() { thread_local ThreadPool pool(2); return pool; }
// x·Wᵀ by the CPU engine's packed f32 GEMM (its accuracy is test_gemm's business; the emulation only needs the
// products, fast enough that the addon's 'cuda' tests run in seconds); the epilogue below is the GPU kernel's.
static Status gemm_any(const float* x, int64_t m, int64_t k, int64_t lda, const float* w, int64_t n, int64_t ldw, float* y, int64_t ldy, const Epilogue& ep) {
  if (m < 0 || n < 0 || k <= 0 || lda < k || ldw < k) return invalid_argument("gemm shape");
  if (!y && (ep.gate || !ep.y_bf16)) return invalid_argument("gemm y null");
  std::vector<float> wc(static_cast<size_t>(n * k)), acc(static_cast<size_t>(m * n));
  for (int64_t j = 0; j < n; ++j) std::copy(w + j * ldw, w + j * ldw + k, wc.begin() + j * k);
  DITTO_ASSIGN_OR_RETURN(cpu::PackedWeight packed, cpu::PackedWeight::pack(wc.data(), n, k, DType::F32));
  if (m > 0) cpu::linear(emu_pool(), x, m, lda, packed, acc.data(), n);
  for (int64_t i = 0; i < m; ++i) for (int64_t j = 0; j < n; ++j) {
    float v = acc[i*n+j]; if (ep.bias) v += ep.bias[j]; v = act(v, ep.activation);
    if (ep.gate) v = y[i*ldy+j] + ep.gate[(i/ep.gate_row_group)*ep.gate_stride + j] * v;
    if (y) y[i*ldy+j] = v;
    if (ep.y_bf16) ep.y_bf16[i*ep.ldy_bf16+j] = __float2bfloat16_rn(v);
  }
  return Status::Ok();
}
static std::vector<float> widen(const bf16* p, int64_t rows, int64_t cols, int64_t ld) {
  std::vector<float> o(rows * ld); for (int64_t i = 0; i < rows; ++i) for (int64_t j = 0; j < cols; ++j) o[i*ld+j] = __bfloat162float(p[i*ld+j]); return o; }
Status gemm_bf16(const bf16* x, int64_t m, int64_t k, int64_t lda, const bf16* w, int64_t n, int64_t ldw, float* y, int64_t ldy, const Epilogue& ep, cudaStream_t) {
  auto xf = widen(x, m, k, lda), wf = widen(w, n, k, ldw); return gemm_any(xf.data(), m, k, lda, wf.data(), n, ldw, y, ldy, ep); }
Status gemm_f32(const float* x, int64_t m, int64_t k, int64_t lda, const float* w, int64_t n, int64_t ldw, float* y, int64_t ldy, const Epilogue& ep, cudaStream_t) {
  return gemm_any(x, m, k, lda, w, n, ldw, y, ldy, ep); }
bool have_cublaslt() { return false; }
std::string gemm_backend_info() { return "gemm_bf16: the CPU engine's GEMM (emulated)"; }
static cpu::AttentionArgs to_cpu(const AttentionArgsT<float>& a) {
  cpu::AttentionArgs c; c.batch=a.batch; c.heads=a.heads; c.q_len=a.q_len; c.kv_len=a.kv_len; c.head_dim=a.head_dim;
  c.q=a.q; c.q_batch_stride=a.q_batch_stride; c.q_row_stride=a.q_row_stride; c.k=a.k; c.k_batch_stride=a.k_batch_stride; c.k_row_stride=a.k_row_stride;
  c.v=a.v; c.v_batch_stride=a.v_batch_stride; c.v_row_stride=a.v_row_stride; c.out=a.out; c.out_batch_stride=a.out_batch_stride; c.out_row_stride=a.out_row_stride;
  c.scale=a.scale; c.key_bias=a.key_bias; return c; }
Status attention_f32(const AttentionArgsT<float>& a, cudaStream_t) { if (a.head_dim > 256) return invalid_argument("hd"); cpu::attention(emu_pool(), to_cpu(a)); return Status::Ok(); }
Status attention_bf16(const AttentionArgsT<bf16>& a, cudaStream_t) {
  if (a.head_dim > 128 || a.head_dim % 8) return invalid_argument("hd");
  // widen q/k/v buffers (sizes from strides), compute, round out
  auto span = [&](int64_t bs, int64_t rs, int64_t len) { return (a.batch - 1) * bs + (len - 1) * rs + a.heads * a.head_dim; };
  int64_t nq = span(a.q_batch_stride, a.q_row_stride, a.q_len), nk = span(a.k_batch_stride, a.k_row_stride, a.kv_len), nv = span(a.v_batch_stride, a.v_row_stride, a.kv_len);
  int64_t no = span(a.out_batch_stride, a.out_row_stride, a.q_len);
  std::vector<float> q(nq), k(nk), v(nv), o(no);
  for (int64_t i = 0; i < nq; ++i) q[i] = __bfloat162float(a.q[i]);
  for (int64_t i = 0; i < nk; ++i) k[i] = __bfloat162float(a.k[i]);
  for (int64_t i = 0; i < nv; ++i) v[i] = __bfloat162float(a.v[i]);
  AttentionArgsT<float> f; f.batch=a.batch; f.heads=a.heads; f.q_len=a.q_len; f.kv_len=a.kv_len; f.head_dim=a.head_dim;
  f.q=q.data(); f.q_batch_stride=a.q_batch_stride; f.q_row_stride=a.q_row_stride; f.k=k.data(); f.k_batch_stride=a.k_batch_stride; f.k_row_stride=a.k_row_stride;
  f.v=v.data(); f.v_batch_stride=a.v_batch_stride; f.v_row_stride=a.v_row_stride; f.out=o.data(); f.out_batch_stride=a.out_batch_stride; f.out_row_stride=a.out_row_stride; f.scale=a.scale;
  cpu::attention(emu_pool(), to_cpu(f));
  for (int64_t b = 0; b < a.batch; ++b) for (int64_t i = 0; i < a.q_len; ++i) for (int64_t j = 0; j < a.heads * a.head_dim; ++j) {
    int64_t idx = b * a.out_batch_stride + i * a.out_row_stride + j; a.out[idx] = __float2bfloat16_rn(o[idx]); }
  return Status::Ok(); }
Status layer_norm_modulate(const float* x, float* out, bf16* out_bf16, int64_t rows, int64_t dim, float eps, const float* w, const float* b, const Modulation& mod, cudaStream_t) {
  if (!out && !out_bf16) return invalid_argument("ln");
  std::vector<float> tmp(rows * dim); cpu::Modulation m{mod.shift, mod.scale, mod.rows_per_group, mod.stride};
  cpu::layer_norm_reference(x, tmp.data(), rows, dim, eps, w, b, m);
  for (int64_t i = 0; i < rows * dim; ++i) { if (out) out[i] = tmp[i]; if (out_bf16) out_bf16[i] = __float2bfloat16_rn(tmp[i]); }
  return Status::Ok(); }
Status patchify(const float* x, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p, float* t, cudaStream_t) { cpu::patchify(x, B, C, H, W, p, t); return Status::Ok(); }
Status unpatchify(const float* t, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p, float* x, cudaStream_t) { cpu::unpatchify(t, B, C, H, W, p, x); return Status::Ok(); }
Status f32_to_bf16(const float* x, bf16* o, int64_t n, cudaStream_t) { for (int64_t i = 0; i < n; ++i) o[i] = __float2bfloat16_rn(x[i]); return Status::Ok(); }
Status bf16_to_f32(const bf16* x, float* o, int64_t n, cudaStream_t) { for (int64_t i = 0; i < n; ++i) o[i] = __bfloat162float(x[i]); return Status::Ok(); }
Status silu(const float* x, float* o, int64_t n, cudaStream_t) { for (int64_t i = 0; i < n; ++i) o[i] = cpu::silu_scalar(x[i]); return Status::Ok(); }
Status add(const float* x, const float* y, float* o, int64_t n, cudaStream_t) { for (int64_t i = 0; i < n; ++i) o[i] = x[i] + y[i]; return Status::Ok(); }
Status mul(const float* x, const float* y, float* o, int64_t n, cudaStream_t) { for (int64_t i = 0; i < n; ++i) o[i] = x[i] * y[i]; return Status::Ok(); }
Status lerp(const float* x, const float* y, float w, float* o, int64_t n, cudaStream_t) { for (int64_t i = 0; i < n; ++i) o[i] = x[i] + w * (y[i] - x[i]); return Status::Ok(); }
Status axpby(float a, const float* x, float b, const float* y, float* o, int64_t n, cudaStream_t) { for (int64_t i = 0; i < n; ++i) o[i] = a * x[i] + b * y[i]; return Status::Ok(); }
Status relative_l1(const float* cur, const float* prev, int64_t batch, int64_t n, double*, float* rel_l1, cudaStream_t) {
  for (int64_t b = 0; b < batch; ++b) { double d = 0, s = 0; for (int64_t i = 0; i < n; ++i) { d += std::fabs(double(cur[b*n+i]) - prev[b*n+i]); s += std::fabs(double(prev[b*n+i])); } rel_l1[b] = s > 0 ? float(d / s) : INFINITY; }
  return Status::Ok(); }
Status dot_norm(const float* x, const float* y, int64_t batch, int64_t n, double*, float* out, cudaStream_t) {
  for (int64_t b = 0; b < batch; ++b) { double d = 0, p = 0, q = 0; for (int64_t i = 0; i < n; ++i) { d += double(x[b*n+i]) * y[b*n+i]; p += double(x[b*n+i]) * x[b*n+i]; q += double(y[b*n+i]) * y[b*n+i]; } out[3*b] = float(d); out[3*b+1] = float(std::sqrt(p)); out[3*b+2] = float(std::sqrt(q)); }
  return Status::Ok(); }
}

// Host-side API of the CUDA kernels (namespace ditto::cuda). Everything here runs asynchronously on the given
// stream over device pointers and returns a Status (kCuda on a launch failure, kInvalidArgument on shapes the
// kernel does not support). Conventions mirror the CPU engine (native/include/ditto/cpu/*.h) so the op suite
// can compare each op with its CPU twin: row-major, Linear weights [N, K], token streams [B, T, D].
// bf16 paths take bf16 operands and accumulate in f32 (tensor cores); f32 paths are the reference on the GPU.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "ditto/status.h"

namespace ditto::cuda {

using bf16 = __nv_bfloat16;

Status cuda_status(cudaError_t err, const char* what);  // kOk for cudaSuccess
#define DITTO_CUDA_RETURN(expr, what) DITTO_RETURN_IF_ERROR(::ditto::cuda::cuda_status((expr), (what)))

enum class Activation { None = 0, GeluTanh = 1, Silu = 2 };

// Same order as ditto::cpu::Epilogue: v += bias[j]; v = act(v); gated: y = y + gate[(i/group)*stride + j]*v
// else y = v. When y_bf16 is set the final value is also stored there as bf16 (row stride ldy_bf16) so the
// next GEMM can consume it without a conversion pass.
struct Epilogue {
  const float* bias = nullptr;
  Activation activation = Activation::None;
  const float* gate = nullptr;
  int64_t gate_row_group = 1;
  int64_t gate_stride = 0;
  bf16* y_bf16 = nullptr;
  int64_t ldy_bf16 = 0;
};

// y[M,N] (f32, row stride ldy; may be null when only y_bf16 is wanted and there is no gate)
//   = epilogue(x[M,K] · Wᵀ), W [N,K] row-major.  The dispatch (gemm_dispatch.cpp): cuBLASLt when it is loaded
//   (gemm_backend()), supports the shape and the operands are 16-byte aligned, else the WMMA kernel.
Status gemm_bf16(const bf16* x, int64_t m, int64_t k, int64_t lda, const bf16* w, int64_t n, int64_t ldw, float* y,
                 int64_t ldy, const Epilogue& ep, cudaStream_t stream);
// The same contract, always our tensor-core WMMA kernel (128x128x32 tiles, cp.async).
Status gemm_bf16_wmma(const bf16* x, int64_t m, int64_t k, int64_t lda, const bf16* w, int64_t n, int64_t ldw, float* y,
                      int64_t ldy, const Epilogue& ep, cudaStream_t stream);
// The same contract, always cuBLASLt (cublaslt_gemm.cpp: bias / GELU-tanh fused by cuBLASLt, the gate and the bf16
// copy by gemm_epilogue_apply over an f32 workspace). kUnsupportedModel when cuBLASLt is not loaded or cannot run
// this shape / alignment (the dispatch then takes WMMA); kCuda when a cuBLASLt call fails.
Status gemm_bf16_cublaslt(const bf16* x, int64_t m, int64_t k, int64_t lda, const bf16* w, int64_t n, int64_t ldw,
                          float* y, int64_t ldy, const Epilogue& ep, cudaStream_t stream);
// Same contract in f32 (SIMT, 64x64 tiles): the f32 reference path.
Status gemm_f32(const float* x, int64_t m, int64_t k, int64_t lda, const float* w, int64_t n, int64_t ldw, float* y,
                int64_t ldy, const Epilogue& ep, cudaStream_t stream);
// The argument checks every GEMM entry applies (shapes, strides, the y / y_bf16 / gate combinations).
Status gemm_check_args(int64_t m, int64_t k, int64_t n, int64_t lda, int64_t ldw, const void* y, int64_t ldy,
                       const Epilogue& ep);
// The GEMM epilogue over a finished f32 product acc[M,N] (row stride ldacc): for each (i, j) exactly what the
// WMMA kernel does with its accumulator (store_epilogue): bias, activation, gate, y, bf16 copy.
Status gemm_epilogue_apply(const float* acc, int64_t ldacc, int64_t m, int64_t n, float* y, int64_t ldy,
                           const Epilogue& ep, cudaStream_t stream);

// cuBLASLt is loaded at run time (dlopen of libcublasLt.so.13, then .so.12; DITTO_CUBLASLT_LIB names a file to
// try first) by a backend compiled against cublasLt.h; never linked, so the backend loads without it.
bool have_cublaslt();
// "cuBLASLt libcublasLt.so.13, version N", or why it is not loaded / not compiled in.
std::string cublaslt_describe();
// The plan cuBLASLt took for each GEMM kind seen so far ("m=… k=… n=… <epilogue>: direct|staged|plain|none; …"),
// for the benchmark's log: which calls fused their epilogue in cuBLASLt and which went through the staging pass.
std::string cublaslt_plans();
// Which bf16 GEMM gemm_bf16 uses. The initial value comes from DITTO_CUDA_GEMM: unset / "auto" -> Auto
// (cuBLASLt when loaded, WMMA for what it cannot run), "wmma" -> Wmma, "cublaslt" -> Cublaslt (no fallback:
// an unsupported shape is an error). Another value makes every gemm_bf16 fail with ERR_INVALID_ARGUMENT.
enum class GemmBackend { Auto = 0, Wmma = 1, Cublaslt = 2 };
GemmBackend gemm_backend();
void set_gemm_backend(GemmBackend backend);
// One line for build info / `ditto info`, e.g. "gemm_bf16: cuBLASLt (libcublasLt.so.13, version 130101), WMMA
// fallback" or "gemm_bf16: WMMA (cuBLASLt not loaded: ...)".
std::string gemm_backend_info();

// Attention with element (b, i, h, d) of q at q[b*q_batch_stride + i*q_row_stride + h*head_dim + d]
// (likewise k, v, out) — the CPU AttentionArgs layout, so a fused qkv buffer is read in place.
template <class T>
struct AttentionArgsT {
  int64_t batch = 0, heads = 0, q_len = 0, kv_len = 0, head_dim = 0;
  const T* q = nullptr; int64_t q_batch_stride = 0, q_row_stride = 0;
  const T* k = nullptr; int64_t k_batch_stride = 0, k_row_stride = 0;
  const T* v = nullptr; int64_t v_batch_stride = 0, v_row_stride = 0;
  T* out = nullptr;     int64_t out_batch_stride = 0, out_row_stride = 0;
  float scale = 0.f;
  const float* key_bias = nullptr;  // [batch, kv_len] additive, optional
};
// Flash attention on tensor cores (FlashAttention-2 recurrence): 64-query tiles, 64-key tiles, online
// softmax in f32, head_dim <= 128 and a multiple of 8.
Status attention_bf16(const AttentionArgsT<bf16>& args, cudaStream_t stream);
// f32 reference flash attention (one warp per query row, online softmax), head_dim <= 256.
Status attention_f32(const AttentionArgsT<float>& args, cudaStream_t stream);

// out[r,:] = LN(x[r,:]) [* weight + bias] [* (1 + scale_g) + shift_g], g = r / rows_per_group; two-pass f32
// statistics like PyTorch. out and/or out_bf16 may be null.
struct Modulation {
  const float* shift = nullptr;
  const float* scale = nullptr;
  int64_t rows_per_group = 1;
  int64_t stride = 0;
};
Status layer_norm_modulate(const float* x, float* out, bf16* out_bf16, int64_t rows, int64_t dim, float eps,
                           const float* weight, const float* bias, const Modulation& mod, cudaStream_t stream);
Status rms_norm(const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight,
                cudaStream_t stream);

// Rotary embedding on interleaved pairs (Flux / Wan convention), in place on x [rows, heads, head_dim] with
// row stride row_stride: for pair i of row r (position pos = r % positions):
//   (x0, x1) <- (x0*cos - x1*sin, x0*sin + x1*cos),  cos/sin tables [positions, head_dim/2].
Status rope_interleaved(float* x, int64_t rows, int64_t heads, int64_t head_dim, int64_t row_stride,
                        const float* cos_table, const float* sin_table, int64_t positions, cudaStream_t stream);

// Layout ops identical to ditto::cpu::patchify / unpatchify.
Status patchify(const float* x, int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t patch,
                float* tokens, cudaStream_t stream);
Status unpatchify(const float* tokens, int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t patch,
                  float* x, cudaStream_t stream);

// Cache-decision reduction, result left on the device: for each sample b of `batch`,
//   rel_l1[b] = sum_i |cur[b,i] - prev[b,i]| / sum_i |prev[b,i]|   (n elements per sample; 0/0 -> +inf)
// `scratch` holds 2*batch doubles (device).
Status relative_l1(const float* cur, const float* prev, int64_t batch, int64_t n, double* scratch, float* rel_l1,
                   cudaStream_t stream);

// Per-sample dot product and L2 norms, left on the device: out[3b] = <x_b, y_b>, out[3b+1] = |x_b|,
// out[3b+2] = |y_b|. `scratch` holds 3*batch doubles (device).
Status dot_norm(const float* x, const float* y, int64_t batch, int64_t n, double* scratch, float* out,
                cudaStream_t stream);

// Elementwise helpers.
Status f32_to_bf16(const float* x, bf16* out, int64_t n, cudaStream_t stream);
Status bf16_to_f32(const bf16* x, float* out, int64_t n, cudaStream_t stream);
Status silu(const float* x, float* out, int64_t n, cudaStream_t stream);
Status add(const float* x, const float* y, float* out, int64_t n, cudaStream_t stream);
// out[b, t, :] += row[b, :]   (broadcast one row per sample over `tokens` rows; positional / bias adds)
Status add_rows(float* x, const float* row, int64_t batch, int64_t tokens, int64_t dim, int64_t row_batch_stride,
                cudaStream_t stream);
// out = a * x + b * y   (ditto::cpu::axpby's formula)
Status axpby(float a, const float* x, float b, const float* y, float* out, int64_t n, cudaStream_t stream);
// out = x * y   (ditto::cpu::mul: Tensor.mul on a device tensor, inpainting's mask)
Status mul(const float* x, const float* y, float* out, int64_t n, cudaStream_t stream);
// out = x + w * (y - x)   (ditto::cpu::lerp's formula; a DiT block run at Scale(alpha))
Status lerp(const float* x, const float* y, float w, float* out, int64_t n, cudaStream_t stream);

}  // namespace ditto::cuda

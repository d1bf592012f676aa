// LayerNorm fused with adaLN modulation (DiT: out = LN(x)·(1 + scale) + shift, one (shift, scale) row per
// sample) and RMSNorm, one block per row. Statistics follow PyTorch / the CPU engine: float32, two passes
// (mean first, then the centred variance), 1/sqrt(var + eps). Optional bf16 output feeds the next GEMM.
#include "cuda_common.cuh"

namespace ditto::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) layer_norm_kernel(const float* __restrict__ x, float* out, bf16* out_bf16,
                                                              int64_t dim, float eps, const float* weight,
                                                              const float* bias, Modulation mod) {
  __shared__ float red[32];
  const int64_t r = blockIdx.x;
  const float* xr = x + r * dim;
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) s += xr[i];
  const float mean = block_sum(s, red) / float(dim);
  float v = 0.f;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) {
    float d = xr[i] - mean;
    v += d * d;
  }
  const float rstd = 1.f / sqrtf(block_sum(v, red) / float(dim) + eps);
  const int64_t g = r / mod.rows_per_group;
  const float* shift = mod.shift ? mod.shift + g * mod.stride : nullptr;
  const float* scale = mod.scale ? mod.scale + g * mod.stride : nullptr;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) {
    float y = (xr[i] - mean) * rstd;
    if (weight) y *= weight[i];
    if (bias) y += bias[i];
    if (scale) y *= 1.f + scale[i];
    if (shift) y += shift[i];
    if (out) out[r * dim + i] = y;
    if (out_bf16) out_bf16[r * dim + i] = __float2bfloat16_rn(y);
  }
}

__global__ void __launch_bounds__(kThreads) rms_norm_kernel(const float* __restrict__ x, float* out, int64_t dim,
                                                            float eps, const float* weight) {
  __shared__ float red[32];
  const int64_t r = blockIdx.x;
  const float* xr = x + r * dim;
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) s += xr[i] * xr[i];
  const float rstd = 1.f / sqrtf(block_sum(s, red) / float(dim) + eps);
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) out[r * dim + i] = xr[i] * rstd * (weight ? weight[i] : 1.f);
}

}  // namespace

Status layer_norm_modulate(const float* x, float* out, bf16* out_bf16, int64_t rows, int64_t dim, float eps,
                           const float* weight, const float* bias, const Modulation& mod, cudaStream_t stream) {
  if (rows < 0 || dim <= 0 || mod.rows_per_group <= 0 || (!out && !out_bf16)) {
    return invalid_argument("layer_norm_modulate: bad shape or no output");
  }
  if (rows == 0) return Status::Ok();
  if (rows > 0x7fffffff) return invalid_argument("layer_norm_modulate: too many rows");
  layer_norm_kernel<<<unsigned(rows), kThreads, 0, stream>>>(x, out, out_bf16, dim, eps, weight, bias, mod);
  return cuda_status(cudaGetLastError(), "layer_norm_modulate launch");
}

Status rms_norm(const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight,
                cudaStream_t stream) {
  if (rows < 0 || dim <= 0 || rows > 0x7fffffff) return invalid_argument("rms_norm: bad shape");
  if (rows == 0) return Status::Ok();
  rms_norm_kernel<<<unsigned(rows), kThreads, 0, stream>>>(x, out, dim, eps, weight);
  return cuda_status(cudaGetLastError(), "rms_norm launch");
}

}  // namespace ditto::cuda

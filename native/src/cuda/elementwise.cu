// Elementwise helpers of the CUDA forward and the executor: dtype casts, SiLU, add, mul, lerp, axpby, and a per-sample row broadcast add
// (positional embedding / conditioning). Grid-stride loops, one element per thread step.
#include "cuda_common.cuh"

namespace ditto::cuda {
namespace {

__global__ void f32_to_bf16_kernel(const float* __restrict__ x, bf16* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = __float2bfloat16_rn(x[i]);
}
__global__ void bf16_to_f32_kernel(const bf16* __restrict__ x, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = __bfloat162float(x[i]);
}
__global__ void silu_kernel(const float* x, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = silu_f(x[i]);
}
__global__ void add_kernel(const float* x, const float* y, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = x[i] + y[i];
}
__global__ void mul_kernel(const float* x, const float* y, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = x[i] * y[i];
}
__global__ void lerp_kernel(const float* x, const float* y, float w, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = x[i] + w * (y[i] - x[i]);
}
__global__ void axpby_kernel(float a, const float* x, float b, const float* y, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = a * x[i] + b * y[i];
}
__global__ void add_rows_kernel(float* x, const float* row, int64_t batch, int64_t tokens, int64_t dim,
                                int64_t row_batch_stride) {
  const int64_t n = batch * tokens * dim;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t d = i % dim, b = i / (tokens * dim);
    x[i] += row[b * row_batch_stride + d];
  }
}

}  // namespace

#define DITTO_LAUNCH_1D(kernel, n, ...)                                           \
  do {                                                                            \
    if ((n) < 0) return invalid_argument(#kernel ": negative size");              \
    if ((n) == 0) return Status::Ok();                                            \
    kernel<<<blocks_for((n), 256), 256, 0, stream>>>(__VA_ARGS__);                 \
    return cuda_status(cudaGetLastError(), #kernel " launch");                    \
  } while (0)

Status f32_to_bf16(const float* x, bf16* out, int64_t n, cudaStream_t stream) {
  DITTO_LAUNCH_1D(f32_to_bf16_kernel, n, x, out, n);
}
Status bf16_to_f32(const bf16* x, float* out, int64_t n, cudaStream_t stream) {
  DITTO_LAUNCH_1D(bf16_to_f32_kernel, n, x, out, n);
}
Status silu(const float* x, float* out, int64_t n, cudaStream_t stream) { DITTO_LAUNCH_1D(silu_kernel, n, x, out, n); }
Status add(const float* x, const float* y, float* out, int64_t n, cudaStream_t stream) {
  DITTO_LAUNCH_1D(add_kernel, n, x, y, out, n);
}
Status mul(const float* x, const float* y, float* out, int64_t n, cudaStream_t stream) {
  DITTO_LAUNCH_1D(mul_kernel, n, x, y, out, n);
}
Status lerp(const float* x, const float* y, float w, float* out, int64_t n, cudaStream_t stream) {
  DITTO_LAUNCH_1D(lerp_kernel, n, x, y, w, out, n);
}
Status axpby(float a, const float* x, float b, const float* y, float* out, int64_t n, cudaStream_t stream) {
  DITTO_LAUNCH_1D(axpby_kernel, n, a, x, b, y, out, n);
}
Status add_rows(float* x, const float* row, int64_t batch, int64_t tokens, int64_t dim, int64_t row_batch_stride,
                cudaStream_t stream) {
  DITTO_LAUNCH_1D(add_rows_kernel, batch * tokens * dim, x, row, batch, tokens, dim, row_batch_stride);
}

}  // namespace ditto::cuda

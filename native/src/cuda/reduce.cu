// Cache-decision reductions kept on the device (nothing copies a hidden state to the host): per-sample relative L1 change sum|cur - prev| / sum|prev| as used by
// TeaCache (modulated input) and First-Block Cache (first-block residual). Partial sums in double per block,
// combined with double atomics, then one tiny kernel divides. Also per-sample dot product and L2 norms
// (norm-ratio signals), the same way. Deterministic up to atomic ordering in double.
#include "cuda_common.cuh"

namespace ditto::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void zero_kernel(double* scratch, int64_t count) {
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) scratch[i] = 0.0;
}

__global__ void __launch_bounds__(kThreads) rel_l1_partial_kernel(const float* __restrict__ cur,
                                                                  const float* __restrict__ prev, int64_t n,
                                                                  double* scratch) {
  __shared__ double red[32];
  const int64_t b = blockIdx.y;
  const float* c = cur + b * n;
  const float* p = prev + b * n;
  double diff = 0.0, base = 0.0;
  for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads) {
    diff += fabs(double(c[i]) - double(p[i]));
    base += fabs(double(p[i]));
  }
  diff = block_sum(diff, red);
  base = block_sum(base, red);
  if (threadIdx.x == 0) {
    atomicAdd(&scratch[2 * b], diff);
    atomicAdd(&scratch[2 * b + 1], base);
  }
}

__global__ void rel_l1_finish_kernel(const double* scratch, int64_t batch, float* rel_l1) {
  for (int64_t b = threadIdx.x; b < batch; b += blockDim.x) {
    double base = scratch[2 * b + 1];
    rel_l1[b] = base > 0.0 ? float(scratch[2 * b] / base) : INFINITY;
  }
}

__global__ void __launch_bounds__(kThreads) dot_norm_partial_kernel(const float* __restrict__ x,
                                                                    const float* __restrict__ y, int64_t n,
                                                                    double* scratch) {
  __shared__ double red[32];
  const int64_t b = blockIdx.y;
  const float* p = x + b * n;
  const float* q = y + b * n;
  double d = 0.0, nx = 0.0, ny = 0.0;
  for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads) {
    d += double(p[i]) * double(q[i]);
    nx += double(p[i]) * double(p[i]);
    ny += double(q[i]) * double(q[i]);
  }
  d = block_sum(d, red);
  nx = block_sum(nx, red);
  ny = block_sum(ny, red);
  if (threadIdx.x == 0) {
    atomicAdd(&scratch[3 * b], d);
    atomicAdd(&scratch[3 * b + 1], nx);
    atomicAdd(&scratch[3 * b + 2], ny);
  }
}

__global__ void dot_norm_finish_kernel(const double* scratch, int64_t batch, float* out) {
  for (int64_t b = threadIdx.x; b < batch; b += blockDim.x) {
    out[3 * b] = float(scratch[3 * b]);
    out[3 * b + 1] = float(sqrt(scratch[3 * b + 1]));
    out[3 * b + 2] = float(sqrt(scratch[3 * b + 2]));
  }
}

}  // namespace

Status dot_norm(const float* x, const float* y, int64_t batch, int64_t n, double* scratch, float* out,
                cudaStream_t stream) {
  if (batch <= 0 || n <= 0 || batch > 65535) return invalid_argument("dot_norm: bad shape");
  zero_kernel<<<1, 256, 0, stream>>>(scratch, 3 * batch);
  int64_t blocks = (n + kThreads * 8 - 1) / (kThreads * 8);
  if (blocks > 1024) blocks = 1024;
  dot_norm_partial_kernel<<<dim3(unsigned(blocks), unsigned(batch)), kThreads, 0, stream>>>(x, y, n, scratch);
  dot_norm_finish_kernel<<<1, 256, 0, stream>>>(scratch, batch, out);
  return cuda_status(cudaGetLastError(), "dot_norm launch");
}

Status relative_l1(const float* cur, const float* prev, int64_t batch, int64_t n, double* scratch, float* rel_l1,
                   cudaStream_t stream) {
  if (batch <= 0 || n <= 0 || batch > 65535) return invalid_argument("relative_l1: bad shape");
  zero_kernel<<<1, 256, 0, stream>>>(scratch, 2 * batch);
  int64_t blocks = (n + kThreads * 8 - 1) / (kThreads * 8);  // ~8 elements per thread
  if (blocks > 1024) blocks = 1024;
  rel_l1_partial_kernel<<<dim3(unsigned(blocks), unsigned(batch)), kThreads, 0, stream>>>(cur, prev, n, scratch);
  rel_l1_finish_kernel<<<1, 256, 0, stream>>>(scratch, batch, rel_l1);
  return cuda_status(cudaGetLastError(), "relative_l1 launch");
}

}  // namespace ditto::cuda

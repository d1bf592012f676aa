// Rotary position embedding (Su et al. 2021, RoFormer) on interleaved pairs (x[2i], x[2i+1]) — the layout of
// Flux's apply_rope and Wan's rope_apply (view_as_complex over the last dim). In place, f32, one thread per pair.
#include "cuda_common.cuh"

namespace ditto::cuda {
namespace {

__global__ void rope_kernel(float* x, int64_t rows, int64_t heads, int64_t head_dim, int64_t row_stride,
                            const float* __restrict__ cos_t, const float* __restrict__ sin_t, int64_t positions) {
  const int64_t half = head_dim / 2;
  const int64_t pairs = rows * heads * half;
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < pairs; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = p % half, h = (p / half) % heads, r = p / (half * heads);
    const int64_t pos = r % positions;
    float* e = x + r * row_stride + h * head_dim + 2 * i;
    const float c = cos_t[pos * half + i], s = sin_t[pos * half + i];
    const float x0 = e[0], x1 = e[1];
    e[0] = x0 * c - x1 * s;
    e[1] = x0 * s + x1 * c;
  }
}

}  // namespace

Status rope_interleaved(float* x, int64_t rows, int64_t heads, int64_t head_dim, int64_t row_stride,
                        const float* cos_table, const float* sin_table, int64_t positions, cudaStream_t stream) {
  if (rows < 0 || heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 || positions <= 0 || row_stride < heads * head_dim) {
    return invalid_argument("rope_interleaved: bad shape (head_dim must be even)");
  }
  const int64_t pairs = rows * heads * (head_dim / 2);
  if (pairs == 0) return Status::Ok();
  rope_kernel<<<blocks_for(pairs, 256), 256, 0, stream>>>(x, rows, heads, head_dim, row_stride, cos_table, sin_table,
                                                          positions);
  return cuda_status(cudaGetLastError(), "rope launch");
}

}  // namespace ditto::cuda

// Shared device helpers of the CUDA kernels: launch-size arithmetic, activation functions with the same
// formulas as the CPU engine (GELU-tanh as PyTorch's approximate='tanh'), and warp / block reductions.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "ops.h"

namespace ditto::cuda {

inline unsigned blocks_for(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 32 ? 65535 * 32 : b));
}

__device__ __forceinline__ float gelu_tanh_f(float x) {
  const float k0 = 0.7978845608028654f;  // sqrt(2/pi)
  const float k1 = 0.044715f;
  return 0.5f * x * (1.f + tanhf(k0 * (x + k1 * x * x * x)));
}
__device__ __forceinline__ float silu_f(float x) { return x / (1.f + expf(-x)); }

__device__ __forceinline__ float apply_activation(float v, Activation act) {
  switch (act) {
    case Activation::GeluTanh: return gelu_tanh_f(v);
    case Activation::Silu: return silu_f(v);
    default: return v;
  }
}

// Fused GEMM epilogue for output element (i, j) with accumulator v (see Epilogue in ops.h).
__device__ __forceinline__ void store_epilogue(float v, int64_t i, int64_t j, float* y, int64_t ldy,
                                               const Epilogue& ep) {
  if (ep.bias) v += ep.bias[j];
  v = apply_activation(v, ep.activation);
  if (ep.gate) v = y[i * ldy + j] + ep.gate[(i / ep.gate_row_group) * ep.gate_stride + j] * v;
  if (y) y[i * ldy + j] = v;
  if (ep.y_bf16) ep.y_bf16[i * ep.ldy_bf16 + j] = __float2bfloat16_rn(v);
}

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over a block of up to 1024 threads; `shared` holds 32 values. Every thread gets the result.
template <class T>
__device__ T block_sum(T v, T* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // shared may be reused by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  T total = lane < warps ? shared[lane] : T(0);
  return warp_sum(total);
}

}  // namespace ditto::cuda

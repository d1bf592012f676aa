// Helpers shared by the GPU test programs: a device buffer that frees itself, host<->device copies, bf16
// rounding on the host, and the "skip when there is no GPU" convention (exit code 77, ctest SKIP_RETURN_CODE).
#pragma once
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "ditto/tensor.h"
#include "ops.h"

namespace gpu_test {

template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) {
    if (cudaMalloc(&ptr_, (n ? n : 1) * sizeof(T)) != cudaSuccess) {
      std::fprintf(stderr, "cudaMalloc of %zu bytes failed\n", n * sizeof(T));
      std::exit(2);
    }
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return ptr_; }
  size_t size() const { return n_; }
  void upload(const std::vector<T>& host) { cudaMemcpy(ptr_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice); }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    cudaDeviceSynchronize();
    cudaMemcpy(host.data(), ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost);
    return host;
  }

 private:
  T* ptr_ = nullptr;
  size_t n_ = 0;
};

inline std::vector<ditto::cuda::bf16> to_bf16(const std::vector<float>& x) {
  std::vector<ditto::cuda::bf16> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = __float2bfloat16_rn(x[i]);
  return out;
}
inline std::vector<float> from_bf16(const std::vector<ditto::cuda::bf16>& x) {
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = __bfloat162float(x[i]);
  return out;
}
// x rounded to bf16 and back: the exact values a bf16 kernel sees.
inline std::vector<float> round_bf16(std::vector<float> x) {
  for (auto& v : x) v = ditto::bf16_to_f32(ditto::f32_to_bf16(v));
  return x;
}

// Exits with 77 (skipped) when no device is usable; prints which device runs the test otherwise.
inline void require_gpu_or_skip(const char* name) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    std::printf("%s: skipped (no CUDA device: %s)\n", name, e == cudaSuccess ? "none visible" : cudaGetErrorString(e));
    std::exit(77);
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("%s: running on %s (sm_%d%d)\n", name, prop.name, prop.major, prop.minor);
}

}  // namespace gpu_test

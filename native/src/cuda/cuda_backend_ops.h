// The executor's op table on a CUDA device (ditto/executor.h BackendOps): cudaMalloc'd buffers and the ops.h
// element-wise kernels and per-sample reductions on the model's stream; reduction results are downloaded
// (a few floats per sample), hidden states never are.
#pragma once
#include <cuda_runtime.h>

#include "dit_cuda_weights.h"
#include "ditto/executor.h"

namespace ditto::cuda {

class CudaBackendOps final : public BackendOps {
 public:
  explicit CudaBackendOps(cudaStream_t stream) : stream_(stream) {}
  Result<BackendBuffer> allocate(int64_t floats) override;
  Status copy(float* dst, const float* src, int64_t n) override;
  Status lerp(const float* x, const float* y, float w, float* out, int64_t n) override;
  Status axpby(float a, const float* x, float b, const float* y, float* out, int64_t n) override;
  Status relative_l1(const float* cur, const float* ref, int64_t batch, int64_t n, float* rel_l1) override;
  Status dot_norm(const float* x, const float* y, int64_t batch, int64_t n, float* dot, float* norm_x,
                  float* norm_y) override;

 private:
  Status ensure_scratch(int64_t doubles, int64_t floats);
  cudaStream_t stream_;
  DeviceMemory scratch_, results_;  // reduction partial sums (double) and per-sample results (float)
};

}  // namespace ditto::cuda

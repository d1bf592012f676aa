// The executor's op table on a CUDA device (ditto/executor.h BackendOps): cudaMalloc'd buffers and the ops.h
// element-wise kernels and per-sample reductions on the model's stream; reduction results are downloaded
// (a few floats per sample), hidden states never are. A model holds two: the executor's and the one its device
// tensors use from the JS thread (Denoiser::tensor_ops); both on the model's one stream, each with its own scratch.
#pragma once
#include <cuda_runtime.h>

#include <memory>

#include "dit_cuda_weights.h"
#include "ditto/executor.h"

namespace ditto::cuda {

class CudaBackendOps final : public BackendOps {
 public:
  // stream_owner (optional) keeps the stream alive as long as these ops (device tensors may outlive their model).
  CudaBackendOps(cudaStream_t stream, int device, std::shared_ptr<void> stream_owner = nullptr)
      : stream_(stream), device_(device), stream_owner_(std::move(stream_owner)) {}
  Result<BackendBuffer> allocate(int64_t floats) override;
  Status copy(float* dst, const float* src, int64_t n) override;
  Status lerp(const float* x, const float* y, float w, float* out, int64_t n) override;
  Status axpby(float a, const float* x, float b, const float* y, float* out, int64_t n) override;
  Status mul(const float* x, const float* y, float* out, int64_t n) override;
  Status relative_l1(const float* cur, const float* ref, int64_t batch, int64_t n, float* rel_l1) override;
  Status dot_norm(const float* x, const float* y, int64_t batch, int64_t n, float* dot, float* norm_x,
                  float* norm_y) override;
  Status upload(float* dst, const float* host, int64_t n) override;    // counted (transfers.h)
  Status download(float* host, const float* src, int64_t n) override;  // counted

 private:
  Status ensure_scratch(int64_t doubles, int64_t floats);
  cudaStream_t stream_;
  int device_;  // made current on the calling thread first: the binding calls from the JS thread, the executor
                // from the model's queue thread
  std::shared_ptr<void> stream_owner_;
  DeviceMemory scratch_, results_;  // reduction partial sums (double) and per-sample results (float)
};

}  // namespace ditto::cuda

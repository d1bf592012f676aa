// The CPU's BackendOps: host memory (64-byte aligned tensors) and the ditto::cpu element-wise ops and
// reductions on the model's thread pool.
#pragma once
#include "ditto/executor.h"
#include "ditto/thread_pool.h"

namespace ditto {

class CpuOps final : public BackendOps {
 public:
  explicit CpuOps(ThreadPool& pool) : pool_(pool) {}
  Result<BackendBuffer> allocate(int64_t floats) override;
  Status copy(float* dst, const float* src, int64_t n) override;
  Status lerp(const float* x, const float* y, float w, float* out, int64_t n) override;
  Status axpby(float a, const float* x, float b, const float* y, float* out, int64_t n) override;
  Status mul(const float* x, const float* y, float* out, int64_t n) override;
  Status relative_l1(const float* cur, const float* ref, int64_t batch, int64_t n, float* rel_l1) override;
  Status dot_norm(const float* x, const float* y, int64_t batch, int64_t n, float* dot, float* norm_x,
                  float* norm_y) override;

 private:
  ThreadPool& pool_;
};

}  // namespace ditto

// ExternalMemory: native bytes reported to V8 with napi_adjust_external_memory, so the garbage collector feels
// the weight of tensors and models it cannot see, and process.memoryUsage().external tells the truth (issue 22,
// defect 6). One account per block of native memory: tensors that share storage (reshape views) share one
// account, and a model's account lives as long as the model does (the JS object and any job still holding it).
// JS thread only: Set() and the destructor call into N-API; every owner is created and dropped on the JS thread.
#pragma once
#include <napi.h>

#include <cstdint>

namespace ditto_node {

class ExternalMemory {
 public:
  explicit ExternalMemory(napi_env env) : env_(env) {}
  ~ExternalMemory() { Set(0); }
  ExternalMemory(const ExternalMemory&) = delete;
  ExternalMemory& operator=(const ExternalMemory&) = delete;

  // Reports `bytes` as the current size, adjusting V8 by the difference from what was reported before.
  void Set(int64_t bytes) {
    if (bytes == reported_) return;
    int64_t total = 0;
    napi_adjust_external_memory(env_, bytes - reported_, &total);
    reported_ = bytes;
  }
  int64_t bytes() const { return reported_; }

 private:
  napi_env env_;
  int64_t reported_ = 0;
};

}  // namespace ditto_node

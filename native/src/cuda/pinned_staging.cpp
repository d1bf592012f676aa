// PinnedStaging (see pinned_staging.h).
#include "pinned_staging.h"

#include <string>

#include "ops.h"

namespace ditto::cuda {

PinnedStaging::~PinnedStaging() {
  if (pending_) cudaEventSynchronize(copied_);
  if (copied_) cudaEventDestroy(copied_);
  if (host_) cudaFreeHost(host_);
}

Status PinnedStaging::wait_previous() {
  if (!pending_) return Status::Ok();
  pending_ = false;
  DITTO_CUDA_RETURN(cudaEventSynchronize(copied_), "pinned staging (previous upload)");
  return Status::Ok();
}

Result<float*> PinnedStaging::acquire(int64_t floats) {
  DITTO_RETURN_IF_ERROR(wait_previous());
  if (!copied_) DITTO_CUDA_RETURN(cudaEventCreateWithFlags(&copied_, cudaEventDisableTiming), "cudaEventCreate");
  if (capacity_ < floats) {
    if (host_) cudaFreeHost(host_);
    host_ = nullptr;
    capacity_ = 0;
    void* p = nullptr;
    if (cudaMallocHost(&p, static_cast<size_t>(floats) * sizeof(float)) != cudaSuccess)
      return out_of_memory("cudaMallocHost of " + std::to_string(floats * 4) + " bytes (pinned staging) failed");
    host_ = static_cast<float*>(p);
    capacity_ = floats;
  }
  return host_;
}

Status PinnedStaging::upload(float* device, int64_t floats, cudaStream_t stream) {
  if (floats > capacity_) return invalid_argument("pinned staging: upload of more floats than acquired");
  DITTO_CUDA_RETURN(cudaMemcpyAsync(device, host_, static_cast<size_t>(floats) * sizeof(float), cudaMemcpyHostToDevice,
                                    stream),
                    "pinned upload");
  DITTO_CUDA_RETURN(cudaEventRecord(copied_, stream), "cudaEventRecord");
  pending_ = true;
  return Status::Ok();
}

}  // namespace ditto::cuda

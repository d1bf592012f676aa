// Page-locked (pinned) host staging for small per-step uploads that need no host wait (docs/cuda.md, "Streams and
// host waits"): the DiT's timestep sinusoid (B x 256 floats) is computed on the host into this buffer and copied
// with cudaMemcpyAsync, which from pinned memory is a true asynchronous DMA (from pageable memory the copy had to
// finish before the host could reuse its source, so every step waited for the stream). The buffer is rewritten
// only after the previous copy out of it has completed: an event recorded after that copy is waited for first
// (it ran at the start of the previous step's work, so in a steady stream this wait returns at once).
// Not counted by transfers.h: it carries no activations, only the step's timestep features.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "ditto/status.h"

namespace ditto::cuda {

class PinnedStaging {
 public:
  PinnedStaging() = default;
  ~PinnedStaging();
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;

  // A host buffer of at least `floats` floats, safe to write: the previous upload from it has completed.
  Result<float*> acquire(int64_t floats);
  // Enqueues device[0, floats) <- the buffer on `stream` and records when it is done; no host wait.
  Status upload(float* device, int64_t floats, cudaStream_t stream);

 private:
  Status wait_previous();
  float* host_ = nullptr;
  int64_t capacity_ = 0;
  cudaEvent_t copied_ = nullptr;
  bool pending_ = false;
};

}  // namespace ditto::cuda

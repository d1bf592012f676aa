// Host <-> device copies of the CUDA backend's activations (inputs, outputs, captures, device tensors), each
// counted per direction so a test can prove what never leaves the GPU (docs/cuda.md, "Device tensors": a
// pipeline on 'cuda' downloads its latents once, at the end). Weight uploads at load time are not counted.
// Both directions wait for the stream: the host buffer is pageable and the caller may reuse it at once.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "ditto/device.h"
#include "ditto/status.h"

namespace ditto::cuda {

Status copy_to_device(void* device, const void* host, size_t bytes, cudaStream_t stream, const char* what);
Status copy_to_host(void* host, const void* device, size_t bytes, cudaStream_t stream, const char* what);
// The process-wide counts since load (the C ABI's transfer_counts entry).
DittoCudaTransferCounts transfer_counts();

}  // namespace ditto::cuda

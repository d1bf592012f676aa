// Counted host <-> device copies (see transfers.h).
#include "transfers.h"

#include <atomic>
#include <string>

#include "ops.h"

namespace ditto::cuda {
namespace {
std::atomic<uint64_t> h2d_copies{0}, h2d_bytes{0}, d2h_copies{0}, d2h_bytes{0};
}  // namespace

Status copy_to_device(void* device, const void* host, size_t bytes, cudaStream_t stream, const char* what) {
  if (bytes == 0) return Status::Ok();
  DITTO_CUDA_RETURN(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, stream), what);
  DITTO_CUDA_RETURN(cudaStreamSynchronize(stream), what);
  h2d_copies.fetch_add(1);
  h2d_bytes.fetch_add(bytes);
  return Status::Ok();
}

Status copy_to_host(void* host, const void* device, size_t bytes, cudaStream_t stream, const char* what) {
  if (bytes == 0) return Status::Ok();
  DITTO_CUDA_RETURN(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, stream), what);
  DITTO_CUDA_RETURN(cudaStreamSynchronize(stream), what);
  d2h_copies.fetch_add(1);
  d2h_bytes.fetch_add(bytes);
  return Status::Ok();
}

DittoCudaTransferCounts transfer_counts() {
  DittoCudaTransferCounts c{};
  c.host_to_device_copies = h2d_copies.load();
  c.host_to_device_bytes = h2d_bytes.load();
  c.device_to_host_copies = d2h_copies.load();
  c.device_to_host_bytes = d2h_bytes.load();
  return c;
}

}  // namespace ditto::cuda

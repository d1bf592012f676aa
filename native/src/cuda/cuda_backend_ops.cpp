// CudaBackendOps (see cuda_backend_ops.h).
#include "cuda_backend_ops.h"

#include <vector>

#include "ops.h"
#include "transfers.h"

namespace ditto::cuda {

Result<BackendBuffer> CudaBackendOps::allocate(int64_t floats) {
  DITTO_CUDA_RETURN(cudaSetDevice(device_), "cudaSetDevice");
  // Stream-ordered: neither the allocation nor the free (a device tensor dropped on the JS thread) waits for the
  // device, as cudaMalloc / cudaFree would; the free keeps the stream alive until it is enqueued.
  float* p = nullptr;
  if (cudaMallocAsync(&p, static_cast<size_t>(floats) * sizeof(float), stream_) != cudaSuccess)
    return out_of_memory("cudaMallocAsync of " + std::to_string(floats * 4) + " bytes on cuda:" +
                         std::to_string(device_) + " failed");
  BackendBuffer b;
  b.data = std::shared_ptr<float>(p, [stream = stream_, owner = stream_owner_](float* q) { cudaFreeAsync(q, stream); });
  b.floats = floats;
  return b;
}

Status CudaBackendOps::upload(float* dst, const float* host, int64_t n) {
  DITTO_CUDA_RETURN(cudaSetDevice(device_), "cudaSetDevice");
  return copy_to_device(dst, host, static_cast<size_t>(n) * sizeof(float), stream_, "tensor upload");
}

Status CudaBackendOps::download(float* host, const float* src, int64_t n) {
  DITTO_CUDA_RETURN(cudaSetDevice(device_), "cudaSetDevice");
  return copy_to_host(host, src, static_cast<size_t>(n) * sizeof(float), stream_, "tensor download");
}

Status CudaBackendOps::copy(float* dst, const float* src, int64_t n) {
  DITTO_CUDA_RETURN(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToDevice, stream_),
                    "executor copy");
  return Status::Ok();
}

Status CudaBackendOps::lerp(const float* x, const float* y, float w, float* out, int64_t n) {
  return cuda::lerp(x, y, w, out, n, stream_);
}

Status CudaBackendOps::axpby(float a, const float* x, float b, const float* y, float* out, int64_t n) {
  return cuda::axpby(a, x, b, y, out, n, stream_);
}

Status CudaBackendOps::mul(const float* x, const float* y, float* out, int64_t n) {
  return cuda::mul(x, y, out, n, stream_);
}

Status CudaBackendOps::ensure_scratch(int64_t doubles, int64_t floats) {
  if (scratch_.bytes() < static_cast<size_t>(doubles) * sizeof(double)) {
    DITTO_ASSIGN_OR_RETURN(scratch_, DeviceMemory::allocate(static_cast<size_t>(doubles) * sizeof(double)));
  }
  if (results_.bytes() < static_cast<size_t>(floats) * sizeof(float)) {
    DITTO_ASSIGN_OR_RETURN(results_, DeviceMemory::allocate(static_cast<size_t>(floats) * sizeof(float)));
  }
  return Status::Ok();
}

Status CudaBackendOps::relative_l1(const float* cur, const float* ref, int64_t batch, int64_t n, float* rel_l1) {
  DITTO_RETURN_IF_ERROR(ensure_scratch(2 * batch, batch));
  DITTO_RETURN_IF_ERROR(cuda::relative_l1(cur, ref, batch, n, scratch_.as<double>(), results_.as<float>(), stream_));
  DITTO_CUDA_RETURN(cudaMemcpyAsync(rel_l1, results_.get(), static_cast<size_t>(batch) * sizeof(float),
                                    cudaMemcpyDeviceToHost, stream_),
                    "relative_l1 download");
  DITTO_CUDA_RETURN(cudaStreamSynchronize(stream_), "relative_l1");
  return Status::Ok();
}

Status CudaBackendOps::dot_norm(const float* x, const float* y, int64_t batch, int64_t n, float* dot, float* norm_x,
                                float* norm_y) {
  DITTO_RETURN_IF_ERROR(ensure_scratch(3 * batch, 3 * batch));
  DITTO_RETURN_IF_ERROR(cuda::dot_norm(x, y, batch, n, scratch_.as<double>(), results_.as<float>(), stream_));
  std::vector<float> host(static_cast<size_t>(3 * batch));
  DITTO_CUDA_RETURN(cudaMemcpyAsync(host.data(), results_.get(), host.size() * sizeof(float), cudaMemcpyDeviceToHost,
                                    stream_),
                    "dot_norm download");
  DITTO_CUDA_RETURN(cudaStreamSynchronize(stream_), "dot_norm");
  for (int64_t b = 0; b < batch; ++b) {
    dot[b] = host[static_cast<size_t>(3 * b)];
    norm_x[b] = host[static_cast<size_t>(3 * b + 1)];
    norm_y[b] = host[static_cast<size_t>(3 * b + 2)];
  }
  return Status::Ok();
}

}  // namespace ditto::cuda

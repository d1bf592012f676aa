// DiT checkpoint -> device weights for CudaDit: the CPU engine's dit::plan_weights (native/src/models/
// dit_weights.cpp: the name map, stacking, conditioning groups and shape checks, shared so the two backends
// cannot drift) hands over each Linear in f32, which is uploaded at once (its host copy freed before the next
// is read); the pos and label tables are uploaded in f32 after the plan is complete.
// Weights are rounded to bf16 on the host (round-to-nearest-even, ditto::f32_to_bf16) for the BF16 path.
#include "dit_cuda_weights.h"

#include <utility>

namespace ditto::cuda {

DeviceMemory::~DeviceMemory() {
  if (ptr_) cudaFree(ptr_);
}
DeviceMemory::DeviceMemory(DeviceMemory&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
DeviceMemory& DeviceMemory::operator=(DeviceMemory&& other) noexcept {
  if (this != &other) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

Result<DeviceMemory> DeviceMemory::allocate(size_t bytes) {
  DeviceMemory m;
  cudaError_t e = cudaMalloc(&m.ptr_, bytes ? bytes : 1);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // reset the (non-sticky) error so later launches do not report it
    return out_of_memory("CUDA: could not allocate " + std::to_string(bytes) + " bytes of device memory");
  }
  DITTO_RETURN_IF_ERROR(cuda_status(e, "cudaMalloc"));
  m.bytes_ = bytes;
  return m;
}

Result<DeviceMemory> DeviceMemory::upload(const std::vector<float>& host, bool as_bf16) {
  if (!as_bf16) {
    DITTO_ASSIGN_OR_RETURN(DeviceMemory m, allocate(host.size() * sizeof(float)));
    DITTO_CUDA_RETURN(cudaMemcpy(m.get(), host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice),
                      "cudaMemcpy (weights)");
    return m;
  }
  std::vector<uint16_t> rounded(host.size());
  for (size_t i = 0; i < host.size(); ++i) rounded[i] = ::ditto::f32_to_bf16(host[i]);  // the host scalar, not the kernel
  DITTO_ASSIGN_OR_RETURN(DeviceMemory m, allocate(rounded.size() * sizeof(uint16_t)));
  DITTO_CUDA_RETURN(cudaMemcpy(m.get(), rounded.data(), rounded.size() * sizeof(uint16_t), cudaMemcpyHostToDevice),
                    "cudaMemcpy (weights)");
  return m;
}

Result<DeviceDitWeights> load_device_dit_weights(const SafetensorsFile& file, const DitConfig& config, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    return invalid_argument(std::string("CUDA DiT compute dtype must be F32 or BF16, got ") + dtype_name(dtype));
  size_t bytes = 0;
  auto upload = [&bytes](const std::vector<float>& host, bool as_bf16) -> Result<DeviceMemory> {
    DITTO_ASSIGN_OR_RETURN(DeviceMemory m, DeviceMemory::upload(host, as_bf16));
    bytes += m.bytes();
    return m;
  };
  std::vector<DeviceLinear> linears;
  auto upload_linear = [&](dit::HostLinear&& host) -> Status {
    DeviceLinear out;
    out.n = host.n;
    out.k = host.k;
    DITTO_ASSIGN_OR_RETURN(out.weight, upload(host.weight, dtype == DType::BF16));
    DITTO_ASSIGN_OR_RETURN(out.bias, upload(host.bias, false));
    linears.push_back(std::move(out));
    return Status::Ok();
  };
  DITTO_ASSIGN_OR_RETURN(dit::WeightPlan plan, dit::plan_weights(file, config, upload_linear));
  std::vector<float> pos_table_host = plan.pos_table;
  auto upload_table = [&](std::vector<float>&& table) { return upload(table, false); };
  using DeviceParts = dit::DitParts<DeviceLinear, DeviceMemory>;
  DITTO_ASSIGN_OR_RETURN(DeviceParts parts,
                         (dit::materialize<DeviceLinear, DeviceMemory>(std::move(plan), linears, upload_table)));
  DeviceDitWeights w;
  static_cast<DeviceParts&>(w) = std::move(parts);
  w.dtype = dtype;
  w.pos_table_host = std::move(pos_table_host);
  w.bytes = bytes;
  return w;
}

}  // namespace ditto::cuda

// Device-side DiT weights for CudaDit (dit_cuda.h): owning device allocations, and the loader that uploads
// the CPU engine's dit::WeightPlan (native/src/models/dit_internal.h: the one name map, stacking and
// conditioning-group rule for official facebookresearch/DiT and diffusers DiTTransformer2DModel checkpoints)
// into the same layout-neutral skeleton, dit::DitParts, with device Linears and tables.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ditto/dit.h"
#include "ditto/safetensors.h"
#include "ditto/status.h"
#include "models/dit_internal.h"
#include "ops.h"

namespace ditto::cuda {

// One cudaMalloc allocation, freed on destruction; move-only.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  ~DeviceMemory();
  DeviceMemory(DeviceMemory&& other) noexcept;
  DeviceMemory& operator=(DeviceMemory&& other) noexcept;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  static Result<DeviceMemory> allocate(size_t bytes);
  // A new allocation holding `host` (f32), or its bf16 rounding when as_bf16.
  static Result<DeviceMemory> upload(const std::vector<float>& host, bool as_bf16);

  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// A Linear layer [n, k] in the compute dtype, with its f32 bias.
struct DeviceLinear {
  DeviceMemory weight;  // f32 or bf16, row-major [n, k]
  DeviceMemory bias;    // f32 [n]
  int64_t n = 0, k = 0;
  const float* w_f32() const { return weight.as<float>(); }
  const bf16* w_bf16() const { return weight.as<bf16>(); }
  const float* b() const { return bias.as<float>(); }
};

using DeviceConditionGroup = dit::ConditionGroupOf<DeviceLinear, DeviceMemory>;
using DeviceBlock = dit::BlockOf<DeviceLinear>;

// pos_table and label tables are f32 device tables; the Linears are in `dtype`.
struct DeviceDitWeights : dit::DitParts<DeviceLinear, DeviceMemory> {
  DType dtype = DType::F32;
  std::vector<float> pos_table_host;  // [T, D] for the config's grid (pos_table's host copy)
  size_t bytes = 0;                   // device bytes of everything above
};

// Reads, shape-checks and uploads every tensor (kModelLoad naming the tensor on a missing / misshapen one;
// kOutOfMemory / kCuda on device failures).
Result<DeviceDitWeights> load_device_dit_weights(const SafetensorsFile& file, const DitConfig& config, DType dtype);

}  // namespace ditto::cuda

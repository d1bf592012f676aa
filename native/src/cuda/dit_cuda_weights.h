// Device-side DiT weights for CudaDit (dit_cuda.h): owning device allocations, and the loader that reads an
// official (facebookresearch/DiT) or diffusers (DiTTransformer2DModel) checkpoint into one layout-neutral
// structure — the GPU twin of dit::Weights in native/src/models/dit_internal.h, with the same name map,
// stacking (qkv = q | k | v, adaLN = member blocks' 6D rows then the final layer's 2D rows) and
// conditioning-group rule (diffusers blocks with byte-identical embedders share one group).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ditto/dit.h"
#include "ditto/safetensors.h"
#include "ditto/status.h"
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

struct DeviceConditionGroup {
  DeviceLinear t_fc1, t_fc2;  // 256 -> D (SiLU), D -> D
  DeviceMemory label_table;   // f32 [label_rows, D]
  DeviceLinear adaln;         // [cols, D]
  std::vector<int> blocks;    // member blocks
  int first_block = 0;        // the block whose embedder names this group
};

struct DeviceBlock {
  DeviceLinear qkv, proj, fc1, fc2;
  int group = 0;
  int64_t adaln_col = 0;
};

struct DeviceDitWeights {
  DType dtype = DType::F32;
  DeviceLinear patch_embed;            // [D, C*p*p]
  std::vector<float> pos_table_host;   // [T, D] for the config's grid
  DeviceMemory pos_table;              // the same on the device
  std::vector<DeviceConditionGroup> groups;
  std::vector<DeviceBlock> blocks;
  DeviceLinear final_linear;           // [p*p*C_out, D]
  int final_group = 0;
  int64_t final_adaln_col = 0;
  int64_t label_rows = 0;
  int64_t mlp_hidden = 0;
  size_t bytes = 0;                    // device bytes of everything above
};

// Reads, shape-checks and uploads every tensor (kModelLoad naming the tensor on a missing / misshapen one;
// kOutOfMemory / kCuda on device failures).
Result<DeviceDitWeights> load_device_dit_weights(const SafetensorsFile& file, const DitConfig& config, DType dtype);

}  // namespace ditto::cuda

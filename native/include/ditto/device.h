// Device choice and the CUDA backend's C ABI. The CUDA backend is a separate shared library
// (libditto_cuda.so) that the core dlopen()s on demand, so the engine and the Node addon load and run on
// machines with no GPU, no driver or no CUDA toolkit. The library exports one extern "C" function,
// ditto_cuda_backend_v1(), returning a versioned table of plain function pointers. Version 1 holds device
// queries only (no C++ type crosses). Version 2 (docs/cuda.md, "ABI v2") appends model loading: load_model
// hands back a ditto::Denoiser built by the backend from the same weight plan, driven by the core's executor
// like the CPU model; since a C++ object crosses, the table carries core_abi and the loader only uses
// load_model when it equals this build's DITTO_CORE_ABI (same core sources, same compiler).
//
// Device specs (docs/architecture.md, "Errors, async work and devices"): 'auto' tries CUDA then CPU and says which it chose and why; 'cpu' is always
// available; 'cuda' / 'cuda:N' either succeed or fail with StatusCode::kCuda (ERR_CUDA) and a message saying
// why (backend not built / not found, no driver, no device, index out of range).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#include <string>

#include "ditto/status.h"
#endif

// ---------------------------------------------------------------------------------------------------------
// C ABI of libditto_cuda.so. Every call returns 0 on success, otherwise a non-zero code and a NUL-terminated
// message written into err[0..err_len). A table is only valid for the abi_version it reports; the loader
// rejects any other version and any struct_size smaller than the one it was compiled with.
#define DITTO_CUDA_ABI_VERSION 2
#define DITTO_CUDA_ENTRY_SYMBOL "ditto_cuda_backend_v1"
// What must match for a ditto::Denoiser to cross the boundary (ABI v2's load_model): the core's interface
// revision and the C++ compiler that built both sides.
#define DITTO_CORE_ABI "ditto-core-executor-2 " __VERSION__

#ifdef __cplusplus
extern "C" {
#endif

typedef struct DittoCudaDeviceInfo {
  char name[128];
  int major, minor;          // compute capability
  int multiprocessors;
  uint64_t total_memory;     // bytes
} DittoCudaDeviceInfo;

typedef struct DittoCudaBackendV1 {
  uint32_t abi_version;      // DITTO_CUDA_ABI_VERSION
  uint32_t struct_size;      // sizeof(DittoCudaBackendV1) as built
  const char* build_info;    // "CUDA 13.0, sm_80 sm_90a, cuBLASLt: no"

  // Number of visible devices. Fails (with the CUDA runtime's reason) when no driver is installed.
  int (*device_count)(int* count, char* err, size_t err_len);
  int (*device_info)(int device, DittoCudaDeviceInfo* info, char* err, size_t err_len);

  // Runs the backend's own op self-check on `device` (a small GEMM, attention and LayerNorm against f32
  // references on the GPU); proves the kernels load and run on this device's architecture.
  int (*self_test)(int device, char* err, size_t err_len);
} DittoCudaBackendV1;

typedef struct DittoCudaTransferCounts {
  uint64_t host_to_device_copies, host_to_device_bytes;  // activations / device tensors (not weights)
  uint64_t device_to_host_copies, device_to_host_bytes;
} DittoCudaTransferCounts;

// ABI v2: v1's fields first (a v1 reader sees a valid v1 table), then model loading and the copy counters.
typedef struct DittoCudaBackendV2 {
  DittoCudaBackendV1 v1;     // v1.abi_version == 2, v1.struct_size == sizeof(DittoCudaBackendV2)
  const char* core_abi;      // DITTO_CORE_ABI of the build; load_model is used only when it equals the core's
  int emulated;              // 1: the host emulation (tests only; refused unless DITTO_CUDA_EMULATED=1)
  // Loads a model (folder or .safetensors) on the device `options` names: `options` is a const
  // ditto::LoadOptions*, *denoiser receives a ditto::Denoiser* (owned by the caller, deleted through its virtual
  // destructor). On failure *status_code is the ditto::StatusCode and err the message.
  int (*load_model)(const char* path, const void* options, void** denoiser, int* status_code, char* err,
                    size_t err_len);
  void (*transfer_counts)(DittoCudaTransferCounts* counts);
} DittoCudaBackendV2;

typedef const DittoCudaBackendV1* (*DittoCudaBackendEntry)(void);

#ifdef __cplusplus
}  // extern "C"

namespace ditto {

enum class DeviceKind { Cpu, Cuda };

struct DeviceChoice {
  DeviceKind kind = DeviceKind::Cpu;
  int index = 0;              // CUDA ordinal (0 for the CPU)
  std::string name;           // "cpu" or "cuda:0"
  std::string description;    // "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)" / "x86-64 CPU, avx512bf16"
  std::string reason;         // why this device: "requested", or for 'auto' why CUDA was not taken
  int backend_abi = 0;        // CUDA: the loaded backend's ABI version (1: device queries only, 2: runs models)
};

// Parses and resolves a device spec: 'auto' | 'cpu' | 'cuda' | 'cuda:N'.
//   malformed spec                        -> kInvalidArgument ("Expected 'auto', 'cpu', 'cuda' or 'cuda:N' ...")
//   'cuda'/'cuda:N' that cannot be honoured -> kCuda with the reason
//   'auto'                                -> CUDA device 0 when usable, else the CPU with `reason` saying why not
Result<DeviceChoice> choose_device(const std::string& spec);

// The loaded CUDA backend table (loaded once per process, thread-safe), or kCuda saying why not.
// Search order: $DITTO_CUDA_LIB (a file path), then libditto_cuda.so next to the module that holds this
// engine (the addon .node or a test executable), then the dynamic linker's default search path. Tables of
// ABI version 1 and 2 are accepted; an emulated backend only with DITTO_CUDA_EMULATED=1.
Result<const DittoCudaBackendV1*> cuda_backend();
// The loaded backend's ABI version (1 or 2) and its v2 table (kCuda saying why when it is v1 or its core_abi
// differs from this build's).
Result<int> cuda_backend_abi();
Result<const DittoCudaBackendV2*> cuda_backend_v2();
// Copies counted by the backend (zeros when none is loaded).
DittoCudaTransferCounts cuda_transfer_counts();

// Multi-line summary of the devices for `ditto info`: the CPU and its ISA path, then the CUDA backend
// (its build info and each device) or the reason CUDA is unavailable.
std::string describe_devices();

}  // namespace ditto
#endif

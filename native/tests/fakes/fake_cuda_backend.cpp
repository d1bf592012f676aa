// A stand-in CUDA backend library for test_device_abi: exports ditto_cuda_backend_v1() like libditto_cuda.so, with
// one fake device, and returns the table $DITTO_FAKE_CUDA_ABI asks for: "1" an ABI v1 table (device queries only),
// "2-foreign" an ABI v2 table whose core_abi names another engine build. Proves the loader accepts both versions,
// says which it found, and refuses to take a C++ model from a backend built against another engine.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ditto/device.h"

namespace {

int device_count(int* count, char*, size_t) {
  *count = 1;
  return 0;
}

int device_info(int, DittoCudaDeviceInfo* info, char*, size_t) {
  std::memset(info, 0, sizeof *info);
  std::snprintf(info->name, sizeof info->name, "fake device");
  info->major = 9;
  info->multiprocessors = 1;
  info->total_memory = 1ull << 30;
  return 0;
}

int self_test(int, char*, size_t) { return 0; }

int load_model(const char*, const void*, void**, int* status_code, char* err, size_t err_len) {
  *status_code = 0;
  std::snprintf(err, err_len, "the fake backend loads no models");
  return 1;
}

void transfer_counts(DittoCudaTransferCounts* counts) { std::memset(counts, 0, sizeof *counts); }

}  // namespace

extern "C" __attribute__((visibility("default"))) const DittoCudaBackendV1* ditto_cuda_backend_v1(void) {
  static const DittoCudaBackendV1 v1 = {1, sizeof(DittoCudaBackendV1), "fake v1", &device_count, &device_info, &self_test};
  static const DittoCudaBackendV2 v2 = {
      {2, sizeof(DittoCudaBackendV2), "fake v2", &device_count, &device_info, &self_test},
      "ditto-core-executor-1 another compiler", 0, &load_model, &transfer_counts};
  const char* abi = std::getenv("DITTO_FAKE_CUDA_ABI");
  return abi != nullptr && std::string(abi) == "2-foreign" ? &v2.v1 : &v1;
}

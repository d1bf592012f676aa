// Device choice ('auto' | 'cpu' | 'cuda' | 'cuda:N') and the dlopen() loader of the CUDA backend
// (libditto_cuda.so). The core never links CUDA: it finds the backend at run time, checks the ABI version of
// the table it exports, and turns every way that can fail into a kCuda Status that says why.
#include "ditto/device.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "ditto/cpu_features.h"

namespace ditto {
namespace {

constexpr const char* kBackendFile = "libditto_cuda.so";

// The directory of the shared object (or executable) that contains this engine: the addon's folder when
// loaded from Node, the test binary's folder under ctest.
std::string engine_module_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&engine_module_dir), &info) == 0 || info.dli_fname == nullptr) return "";
  std::string path = info.dli_fname;
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

struct LoadedBackend {
  const DittoCudaBackendV1* table = nullptr;
  Status status;
};

LoadedBackend load_backend_once() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("DITTO_CUDA_LIB"); env != nullptr && *env != '\0') {
    candidates.push_back(env);
  } else {
    std::string dir = engine_module_dir();
    if (!dir.empty()) candidates.push_back(dir + "/" + kBackendFile);
    candidates.push_back(kBackendFile);  // LD_LIBRARY_PATH, rpath, ld.so.cache
  }
  std::string tried;
  for (const std::string& path : candidates) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      tried += "\n  " + path + ": " + (why ? why : "not found");
      continue;
    }
    auto entry = reinterpret_cast<DittoCudaBackendEntry>(dlsym(handle, DITTO_CUDA_ENTRY_SYMBOL));
    if (entry == nullptr) {
      return {nullptr, Status(StatusCode::kCuda, "CUDA backend " + path + " does not export " +
                                                     DITTO_CUDA_ENTRY_SYMBOL + " (not a Ditto CUDA backend?)")};
    }
    const DittoCudaBackendV1* table = entry();
    const bool v1 = table != nullptr && table->abi_version == 1 && table->struct_size >= sizeof(DittoCudaBackendV1);
    const bool v2 = table != nullptr && table->abi_version == 2 && table->struct_size >= sizeof(DittoCudaBackendV2);
    if (!v1 && !v2) {
      return {nullptr, Status(StatusCode::kCuda,
                              "CUDA backend " + path + " has ABI version " +
                                  std::to_string(table ? table->abi_version : 0) + " (table of " +
                                  std::to_string(table ? table->struct_size : 0) +
                                  " bytes), this engine accepts 1 (" + std::to_string(sizeof(DittoCudaBackendV1)) +
                                  " bytes) or 2 (" + std::to_string(sizeof(DittoCudaBackendV2)) +
                                  " bytes); rebuild it with scripts/build-cuda.sh")};
    }
    // The host emulation (CPU kernels behind the CUDA host code) only ever runs when a test asks for it.
    const char* allow = std::getenv("DITTO_CUDA_EMULATED");
    if (v2 && reinterpret_cast<const DittoCudaBackendV2*>(table)->emulated &&
        !(allow != nullptr && std::string(allow) == "1")) {
      return {nullptr, Status(StatusCode::kCuda, "CUDA backend " + path +
                                                     " is the host emulation (tests only); set DITTO_CUDA_EMULATED=1 "
                                                     "to use it")};
    }
    // The handle is intentionally never closed: the table's function pointers live as long as the process.
    return {table, Status::Ok()};
  }
  return {nullptr, Status(StatusCode::kCuda,
                          "CUDA backend not built or not found (libditto_cuda.so; build it with "
                          "scripts/build-cuda.sh or point DITTO_CUDA_LIB at it). Tried:" + tried)};
}

std::string format_device_description(const DittoCudaDeviceInfo& info) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %d SMs, %.1f GiB)", info.name, info.major, info.minor,
                info.multiprocessors, double(info.total_memory) / double(1ull << 30));
  return buf;
}

std::string cpu_description() {
  const CpuFeatures& f = cpu_features();
  std::string brand = f.brand.empty() ? std::string("CPU") : f.brand;
  return brand + ", kernels: " + isa_name(best_isa());
}

DeviceChoice cpu_choice(std::string reason) {
  DeviceChoice choice;
  choice.kind = DeviceKind::Cpu;
  choice.name = "cpu";
  choice.description = cpu_description();
  choice.reason = std::move(reason);
  return choice;
}

// Resolves CUDA device `index`, or kCuda with the reason it cannot be used.
Result<DeviceChoice> resolve_cuda(int index) {
  DITTO_ASSIGN_OR_RETURN(const DittoCudaBackendV1* backend, cuda_backend());
  char err[512] = {0};
  int count = 0;
  if (backend->device_count(&count, err, sizeof err) != 0) {
    return Status(StatusCode::kCuda, std::string("CUDA is unavailable: ") + err);
  }
  if (count == 0) return Status(StatusCode::kCuda, "CUDA is unavailable: no CUDA device is visible");
  if (index >= count) {
    return Status(StatusCode::kCuda, "CUDA device cuda:" + std::to_string(index) + " does not exist (" +
                                         std::to_string(count) + " visible device" + (count == 1 ? "" : "s") + ")");
  }
  DittoCudaDeviceInfo info{};
  if (backend->device_info(index, &info, err, sizeof err) != 0) {
    return Status(StatusCode::kCuda, std::string("CUDA device query failed: ") + err);
  }
  DeviceChoice choice;
  choice.kind = DeviceKind::Cuda;
  choice.index = index;
  choice.name = "cuda:" + std::to_string(index);
  choice.description = format_device_description(info);
  choice.backend_abi = static_cast<int>(backend->abi_version);
  choice.reason = "requested";
  return choice;
}

// "cuda:N" -> N; false on anything but a non-negative decimal below 1024.
bool parse_cuda_index(const std::string& digits, int* index) {
  if (digits.empty() || digits.size() > 4) return false;
  int value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value >= 1024) return false;
  *index = value;
  return true;
}

}  // namespace

Result<const DittoCudaBackendV1*> cuda_backend() {
  static std::once_flag once;
  static LoadedBackend loaded;
  std::call_once(once, [] { loaded = load_backend_once(); });
  if (!loaded.status.ok()) return loaded.status;
  return loaded.table;
}

Result<int> cuda_backend_abi() {
  DITTO_ASSIGN_OR_RETURN(const DittoCudaBackendV1* table, cuda_backend());
  return static_cast<int>(table->abi_version);
}

Result<const DittoCudaBackendV2*> cuda_backend_v2() {
  DITTO_ASSIGN_OR_RETURN(const DittoCudaBackendV1* table, cuda_backend());
  if (table->abi_version < 2)
    return Status(StatusCode::kCuda, "The CUDA backend has ABI v1 (device queries only); running models needs v2: "
                                     "rebuild it with scripts/build-cuda.sh");
  const auto* v2 = reinterpret_cast<const DittoCudaBackendV2*>(table);
  if (v2->core_abi == nullptr || std::string(v2->core_abi) != DITTO_CORE_ABI)
    return Status(StatusCode::kCuda, std::string("The CUDA backend was built against another engine (core ABI '") +
                                         (v2->core_abi ? v2->core_abi : "?") + "', this engine is '" + DITTO_CORE_ABI +
                                         "'): rebuild it with scripts/build-cuda.sh from this checkout");
  return v2;
}

DittoCudaTransferCounts cuda_transfer_counts() {
  DittoCudaTransferCounts counts{};
  Result<const DittoCudaBackendV2*> v2 = cuda_backend_v2();
  if (v2.ok()) (*v2)->transfer_counts(&counts);
  return counts;
}

Result<DeviceChoice> choose_device(const std::string& spec) {
  if (spec == "cpu") return cpu_choice("requested");
  if (spec == "auto") {
    Result<DeviceChoice> cuda = resolve_cuda(0);
    if (cuda.ok()) {
      cuda->reason = "auto: CUDA device 0 is usable";
      return cuda;
    }
    return cpu_choice("auto: " + cuda.status().message());
  }
  int index = 0;
  if (spec == "cuda" || (spec.rfind("cuda:", 0) == 0 && parse_cuda_index(spec.substr(5), &index))) {
    return resolve_cuda(index);
  }
  return invalid_argument("Expected 'auto', 'cpu', 'cuda' or 'cuda:N' for device but received '" + spec + "'");
}

std::string describe_devices() {
  std::string out = "cpu: " + cpu_description() + "\n";
  Result<const DittoCudaBackendV1*> backend = cuda_backend();
  if (!backend.ok()) return out + "cuda: unavailable: " + backend.status().message() + "\n";
  out += std::string("cuda backend: ") + (*backend)->build_info + ", ABI v" + std::to_string((*backend)->abi_version) +
         "\n";
  char err[512] = {0};
  int count = 0;
  if ((*backend)->device_count(&count, err, sizeof err) != 0) return out + "cuda: unavailable: " + err + "\n";
  if (count == 0) return out + "cuda: no CUDA device is visible\n";
  for (int i = 0; i < count; ++i) {
    DittoCudaDeviceInfo info{};
    if ((*backend)->device_info(i, &info, err, sizeof err) != 0) {
      out += "cuda:" + std::to_string(i) + ": query failed: " + err + "\n";
    } else {
      out += "cuda:" + std::to_string(i) + ": " + format_device_description(info) + "\n";
    }
  }
  return out;
}

}  // namespace ditto

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
    if (table == nullptr || table->abi_version != DITTO_CUDA_ABI_VERSION ||
        table->struct_size < sizeof(DittoCudaBackendV1)) {
      return {nullptr, Status(StatusCode::kCuda,
                              "CUDA backend " + path + " has ABI version " +
                                  std::to_string(table ? table->abi_version : 0) + " (table of " +
                                  std::to_string(table ? table->struct_size : 0) + " bytes), this engine needs " +
                                  std::to_string(DITTO_CUDA_ABI_VERSION) + " (" +
                                  std::to_string(sizeof(DittoCudaBackendV1)) +
                                  " bytes); rebuild it with scripts/build-cuda.sh")};
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
  out += std::string("cuda backend: ") + (*backend)->build_info + "\n";
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

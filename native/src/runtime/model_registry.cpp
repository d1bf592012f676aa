// load_model(), find_condition() and the family registry: each family says whether a checkpoint's tensor names are its own and
// loads it for one backend. The DiT, SD3, Flux, PixArt and Wan CPU loaders are registered here (the built-in families); a backend
// library linked into a program registers its loaders with register_family().
#include <algorithm>
#include <mutex>

#include "ditto/device.h"
#include "ditto/model.h"
#include "ditto/safetensors.h"
#include "models/dit_family.h"
#include "models/families.h"
#include "models/pixart.h"
#include "models/wan.h"

namespace ditto {
namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::vector<FamilyLoader>& registry() {
  static std::vector<FamilyLoader> loaders = {dit::cpu_loader(), sd3::cpu_loader(), flux::cpu_loader(),
                                              pixart::cpu_loader(), wan::cpu_loader()};
  return loaders;
}

std::string backend_of(const std::string& device) { return device.rfind("cuda", 0) == 0 ? "cuda" : device; }

// A model on the dlopen()ed CUDA backend (ABI v2's load_model, docs/cuda.md): the backend builds its Denoiser
// from the same weight plan; the executor here drives it like any other.
Result<std::unique_ptr<Denoiser>> load_from_cuda_backend(const std::string& path, const LoadOptions& options) {
  DITTO_ASSIGN_OR_RETURN(const DittoCudaBackendV2* backend, cuda_backend_v2());
  void* loaded = nullptr;
  int code = 0;
  char err[1024] = {0};
  if (backend->load_model(path.c_str(), &options, &loaded, &code, err, sizeof err) != 0 || loaded == nullptr)
    return Status(code == 0 ? StatusCode::kCuda : static_cast<StatusCode>(code), err);
  return std::unique_ptr<Denoiser>(static_cast<Denoiser*>(loaded));
}

}  // namespace

const Tensor* find_condition(const ModelInfo& info, const Conditions& conditions, std::string_view name) {
  size_t j = 0;
  for (const TensorSpec& spec : info.conditions) {
    if (spec.name == "labels") continue;
    if (spec.name == name) return j < conditions.tensors.size() && conditions.tensors[j].ndim() > 0 ? &conditions.tensors[j] : nullptr;
    ++j;
  }
  return nullptr;
}

void register_family(FamilyLoader loader) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().push_back(std::move(loader));
}

Result<std::unique_ptr<Denoiser>> load_model(const std::string& path, const LoadOptions& options) {
  DITTO_ASSIGN_OR_RETURN(ModelFiles files, resolve_model_files(path));
  DITTO_ASSIGN_OR_RETURN(std::shared_ptr<SafetensorsFile> file, SafetensorsFile::open(files.weights));
  std::vector<FamilyLoader> loaders;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    loaders = registry();
  }
  const std::string backend = backend_of(options.device);
  std::vector<Status> mismatches;
  std::vector<std::string> asked;
  for (const FamilyLoader& f : loaders) {
    if (std::find(asked.begin(), asked.end(), f.family) != asked.end()) continue;
    asked.push_back(f.family);
    Status recognised = f.detect(*file);
    if (!recognised.ok()) {
      mismatches.push_back(recognised);
      continue;
    }
    for (const FamilyLoader& g : loaders)
      if (g.family == f.family && g.backend == backend) return g.load(file, files, options);
    if (backend == "cuda") return load_from_cuda_backend(files.weights, options);
    return Status(StatusCode::kCuda, "The " + f.family + " family has no loader for device " + options.device +
                                         " in this build");
  }
  // No family recognised the names: with one family its own reason is the clearest message.
  if (mismatches.size() == 1) return mismatches[0];
  std::string why;
  for (const Status& s : mismatches) why += (why.empty() ? "" : "; ") + s.message();
  return unsupported_model("Unsupported model: no family recognises " + files.weights + " (" + why + ")");
}

}  // namespace ditto

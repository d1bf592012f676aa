// The CUDA backend loader with both table versions (native/src/runtime/device.cpp, docs/cuda.md "ABI v2"), against
// the stand-in library tests/fakes/fake_cuda_backend.cpp: an ABI v1 backend is accepted for device queries (the
// choice and `ditto info` say "ABI v1"), and loading a model on it is ERR_CUDA saying v2 is needed; run again with
// "2-foreign", an ABI v2 backend whose core_abi differs from this engine's is accepted as v2 but never handed a model.
// The loader runs once per process, so the test re-executes itself for the second table.
#include <cstdlib>
#include <string>

#include "check.h"
#include "ditto/device.h"
#include "ditto/model.h"

using namespace ditto;

static bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

int main(int argc, char** argv) {
  setenv("DITTO_CUDA_LIB", DITTO_FAKE_CUDA_BACKEND, 1);
  const char* env = std::getenv("DITTO_FAKE_CUDA_ABI");
  const std::string abi = env ? env : "1";
  if (!env) setenv("DITTO_FAKE_CUDA_ABI", "1", 1);
  const int version = abi == "1" ? 1 : 2;

  Result<DeviceChoice> cuda = choose_device("cuda");
  CHECK_OK(cuda);
  if (cuda.ok()) {
    CHECK(cuda->kind == DeviceKind::Cuda && cuda->name == "cuda:0" && cuda->backend_abi == version);
    CHECK(contains(cuda->description, "fake device"));
  }
  Result<int> reported = cuda_backend_abi();
  CHECK(reported.ok() && *reported == version);
  CHECK(contains(describe_devices(), "ABI v" + std::to_string(version) + "\n"));

  LoadOptions options;
  options.device = "cuda:0";
  Result<std::unique_ptr<Denoiser>> model = load_model("examples/models/glyphs", options);
  CHECK(!model.ok() && model.status().code() == StatusCode::kCuda);
  if (version == 1) {
    CHECK(model.status().message() ==
          "The CUDA backend has ABI v1 (device queries only); running models needs v2: rebuild it with "
          "scripts/build-cuda.sh");
  } else {
    CHECK(contains(model.status().message(), "The CUDA backend was built against another engine (core ABI "
                                             "'ditto-core-executor-1 another compiler', this engine is '"));
  }
  DittoCudaTransferCounts counts = cuda_transfer_counts();
  CHECK(counts.host_to_device_copies == 0 && counts.device_to_host_bytes == 0);

  if (version == 1) {  // the v2 table in a fresh process
    setenv("DITTO_FAKE_CUDA_ABI", "2-foreign", 1);
    const std::string self = std::string("\"") + argv[0] + "\"";
    if (std::system(self.c_str()) != 0) {
      std::fprintf(stderr, "test_device_abi: the 2-foreign run failed\n");
      return 1;
    }
  }
  (void)argc;
  return ditto_test::finish(version == 1 ? "test_device_abi (v1, v2-foreign)" : "test_device_abi v2-foreign");
}

// Device choice: spec parsing, 'cpu', 'auto' falling back to the CPU with a reason, and an explicit 'cuda'
// failing with kCuda and a message that says why. With DITTO_TEST_EXPECT_CUDA=1 (scripts/gpu-check.sh on a
// GPU machine, backend built) it instead requires 'cuda', 'cuda:0' and 'auto' to pick the GPU.
#include <cstdlib>
#include <string>

#include "check.h"
#include "ditto/device.h"

using namespace ditto;

static bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

int main() {
  const char* expect_env = std::getenv("DITTO_TEST_EXPECT_CUDA");
  const bool expect_cuda = expect_env != nullptr && std::string(expect_env) == "1";
  // Without a GPU run, pin the backend path to a file that cannot exist so the reason is deterministic
  // (whatever happens to be built next to this binary).
  const char* missing = "/nonexistent-ditto-dir/libditto_cuda.so";
  if (!expect_cuda) setenv("DITTO_CUDA_LIB", missing, 1);

  // Malformed specs are argument errors, never kCuda.
  for (const char* bad : {"gpu", "", "cuda:", "cuda:x", "cuda:-1", "CUDA", "cuda:1024", "cpu:0"}) {
    Result<DeviceChoice> r = choose_device(bad);
    CHECK(!r.ok());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    CHECK(r.status().message() ==
          std::string("Expected 'auto', 'cpu', 'cuda' or 'cuda:N' for device but received '") + bad + "'");
  }

  Result<DeviceChoice> cpu = choose_device("cpu");
  CHECK_OK(cpu);
  if (cpu.ok()) {
    CHECK(cpu->kind == DeviceKind::Cpu);
    CHECK(cpu->name == "cpu");
    CHECK(cpu->reason == "requested");
    CHECK(!cpu->description.empty());
  }

  if (!expect_cuda) {
    for (const char* spec : {"cuda", "cuda:0", "cuda:3"}) {
      Result<DeviceChoice> r = choose_device(spec);
      CHECK(!r.ok());
      CHECK(r.status().code() == StatusCode::kCuda);
      CHECK(contains(r.status().message(), "CUDA backend not built or not found"));
      CHECK(contains(r.status().message(), missing));
    }
    Result<DeviceChoice> autod = choose_device("auto");
    CHECK_OK(autod);
    if (autod.ok()) {
      CHECK(autod->kind == DeviceKind::Cpu);
      CHECK(autod->name == "cpu");
      CHECK(contains(autod->reason, "auto: CUDA backend not built or not found"));
    }
    std::string info = describe_devices();
    CHECK(contains(info, "cpu: "));
    CHECK(contains(info, "cuda: unavailable: CUDA backend not built or not found"));
  } else {
    Result<DeviceChoice> cuda = choose_device("cuda");
    CHECK_OK(cuda);
    if (cuda.ok()) {
      CHECK(cuda->kind == DeviceKind::Cuda);
      CHECK(cuda->name == "cuda:0");
      CHECK(contains(cuda->description, "sm_"));
    }
    Result<DeviceChoice> autod = choose_device("auto");
    CHECK_OK(autod);
    if (autod.ok()) CHECK(autod->kind == DeviceKind::Cuda);
    Result<DeviceChoice> far = choose_device("cuda:999");
    CHECK(!far.ok() && far.status().code() == StatusCode::kCuda);
    CHECK(contains(far.status().message(), "does not exist"));
    std::printf("%s", describe_devices().c_str());
  }
  return ditto_test::finish("test_device");
}

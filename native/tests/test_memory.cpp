// The engine's allocation counter (ditto/memory.h): tensors (views counted once, returned on the last release,
// cached blocks not counted), packed weights, counted host vectors, peak trackers independent of each other and of
// reset_peak_memory(), and the physical-memory cap that refuses an absurd request before allocating it.
#include <cstdint>
#include <limits>

#include "check.h"
#include "core/storage_cache.h"
#include "ditto/cpu/gemm.h"
#include "ditto/memory.h"
#include "ditto/tensor.h"

using namespace ditto;

int main() {
  detail::storage_cache_clear();
  const uint64_t base = allocated_bytes();

  // A tensor counts its block (a 64-byte multiple) until its last view goes; a cached block is not counted.
  {
    auto t = Tensor::empty(DType::F32, {3, 5, 7});  // 420 bytes → a 448-byte block
    CHECK_OK(t);
    CHECK(allocated_bytes() == base + 448);
    auto view = t->reshape({105});
    CHECK_OK(view);
    t = Tensor();
    CHECK(allocated_bytes() == base + 448);
  }
  CHECK(allocated_bytes() == base);
  {
    auto big = Tensor::zeros(DType::F32, {400, 3, 32, 32});  // 4,915,200 bytes, a 4 KiB multiple
    CHECK_OK(big);
    CHECK(allocated_bytes() == base + 4915200);
  }
  CHECK(allocated_bytes() == base);
  CHECK(memory_counters().cached_bytes == 4915200);
  detail::storage_cache_clear();

  // Packed weights count their panel buffer until the last copy of the PackedWeight goes.
  {
    const std::vector<float> w = ditto_test::random_vector(37 * 53, 1);
    auto packed = cpu::PackedWeight::pack(w.data(), 37, 53, DType::F32);
    CHECK_OK(packed);
    CHECK(allocated_bytes() >= base + 37 * 53 * 4);
  }
  CHECK(allocated_bytes() == base);

  // Counted host vectors.
  {
    HostVector<float> v(1001);
    CHECK(allocated_bytes() == base + 4004);
    v.resize(3);
    v.shrink_to_fit();
    CHECK(allocated_bytes() == base + 12);
  }
  CHECK(allocated_bytes() == base);

  // Peak trackers: each sees the high-water mark since it began, whatever reset_peak_memory() does.
  const int outer = begin_peak_tracking();
  CHECK(outer >= 0);
  {
    auto a = Tensor::empty(DType::U8, {1 << 20});
    CHECK_OK(a);
  }
  const int inner = begin_peak_tracking();
  CHECK(inner >= 0 && inner != outer);
  reset_peak_memory();
  CHECK(memory_counters().peak_bytes == allocated_bytes());
  {
    auto b = Tensor::empty(DType::U8, {1 << 19});
    CHECK_OK(b);
  }
  CHECK(end_peak_tracking(inner) == base + (1 << 19));
  CHECK(end_peak_tracking(outer) == base + (1 << 20));
  CHECK(end_peak_tracking(outer) == 0);  // already ended
  CHECK(end_peak_tracking(-1) == 0 && end_peak_tracking(kMaxPeakTrackers) == 0);
  CHECK(memory_counters().peak_bytes == base + (1 << 19));
  detail::storage_cache_clear();

  // Requests above physical memory fail as statuses, before anything is allocated or counted.
  const uint64_t before = memory_counters().allocations;
  auto absurd = Tensor::empty(DType::F32, {int64_t{1} << 20, int64_t{1} << 20, 1024});
  CHECK(!absurd.ok() && absurd.status().code() == StatusCode::kOutOfMemory);
  CHECK(counted_alloc(std::numeric_limits<size_t>::max() / 2) == nullptr);
  CHECK(memory_counters().allocations == before);
  const Status too_big = check_fits_in_memory(1e30, "Model config \"x.json\" (\"depth\" 1048576)");
  CHECK(too_big.code() == StatusCode::kOutOfMemory);
  CHECK(too_big.message().rfind("Model config \"x.json\" (\"depth\" 1048576) would need ", 0) == 0);
  CHECK_OK(check_fits_in_memory(4096, "a page"));
  CHECK(!check_fits_in_memory(std::numeric_limits<double>::quiet_NaN(), "NaN bytes").ok());

  CHECK(allocated_bytes() == base);
  return ditto_test::finish("test_memory");
}

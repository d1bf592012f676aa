// The tensor storage cache (native/src/core/storage_cache.h): large freed blocks are reused (same address, no new
// mapping), only within 1/8 of the requested size, small blocks bypass it, the budget bounds what it holds, and
// tensors allocated through Tensor::empty return their storage to it when the last view goes.
#include <cstdint>
#include <cstring>

#include "check.h"
#include "core/storage_cache.h"
#include "ditto/tensor.h"

using namespace ditto;
using namespace ditto::detail;

int main() {
  storage_cache_clear();
  CHECK(storage_cache_bytes() == 0);

  // A large block comes back for the same request and for one slightly smaller (best fit within 1/8).
  const size_t big = size_t{5} << 20;
  StorageBlock a = storage_acquire(big);
  CHECK(a.ptr != nullptr && a.capacity >= big && reinterpret_cast<uintptr_t>(a.ptr) % 64 == 0);
  std::memset(a.ptr, 1, big);
  void* first = a.ptr;
  storage_release(a);
  CHECK(storage_cache_bytes() == a.capacity);
  StorageBlock b = storage_acquire(big - 4096);
  CHECK(b.ptr == first && b.capacity == a.capacity);
  CHECK(storage_cache_bytes() == 0);
  storage_release(b);
  // A request much smaller than the cached block does not take it (it would waste over 1/8).
  StorageBlock c = storage_acquire(big / 2);
  CHECK(c.ptr != first);
  CHECK(storage_cache_bytes() == b.capacity);
  storage_release(c);

  // Small blocks bypass the cache.
  storage_cache_clear();
  StorageBlock small = storage_acquire(kStorageCacheMinBytes / 2);
  CHECK(small.ptr != nullptr && reinterpret_cast<uintptr_t>(small.ptr) % 64 == 0);
  storage_release(small);
  CHECK(storage_cache_bytes() == 0);
  StorageBlock empty = storage_acquire(0);
  CHECK(empty.ptr != nullptr);
  storage_release(empty);

  // The budget (256 MiB by default) bounds the cache: releasing 40 blocks of 8 MiB keeps at most 256 MiB, and the
  // oldest were freed (the newest is still there).
  std::vector<StorageBlock> many;
  for (int i = 0; i < 40; ++i) many.push_back(storage_acquire(size_t{8} << 20));
  void* newest = many.back().ptr;
  for (const StorageBlock& blk : many) storage_release(blk);
  CHECK(storage_cache_bytes() <= (size_t{256} << 20));
  CHECK(storage_cache_bytes() >= (size_t{248} << 20));
  bool found_newest = false;
  std::vector<StorageBlock> drained;
  while (storage_cache_bytes() > 0) {
    drained.push_back(storage_acquire(size_t{8} << 20));
    found_newest = found_newest || drained.back().ptr == newest;
  }
  CHECK(found_newest);
  for (const StorageBlock& blk : drained) storage_release(blk);
  storage_cache_clear();

  // Tensors: storage goes back to the cache when the last view (here a reshape) is gone, and is reused.
  void* data = nullptr;
  {
    auto t = Tensor::empty(DType::F32, {400, 3, 32, 32});
    CHECK_OK(t);
    data = t->raw();
    auto view = t->reshape({400, 3072});
    CHECK_OK(view);
    t = Tensor();
    CHECK(storage_cache_bytes() == 0);  // the view still holds it
  }
  CHECK(storage_cache_bytes() > 0);
  auto again = Tensor::zeros(DType::F32, {400, 3, 32, 32});
  CHECK_OK(again);
  CHECK(again->raw() == data && again->data<float>()[12345] == 0.f);
  return ditto_test::finish("test_storage_cache");
}

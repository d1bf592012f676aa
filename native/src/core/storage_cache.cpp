// The tensor storage cache (storage_cache.h): a mutex-guarded multimap from capacity to free blocks, plus an age
// list for eviction. Budget: DITTO_STORAGE_CACHE_MB (default 256; 0 disables caching). Blocks handed to tensors
// are counted as engine memory (ditto/memory.h) from acquire to release; parked blocks are cached_bytes only.
#include "core/storage_cache.h"

#include "ditto/memory.h"

#include <cstdint>
#include <cstdlib>
#include <list>
#include <map>
#include <mutex>

namespace ditto::detail {
namespace {

constexpr size_t kPage = 4096;

size_t budget_bytes() {
  static const size_t budget = [] {
    if (const char* env = std::getenv("DITTO_STORAGE_CACHE_MB")) {
      char* end = nullptr;
      const unsigned long long mb = std::strtoull(env, &end, 10);
      if (end != env && *end == '\0') return static_cast<size_t>(mb) << 20;
    }
    return size_t{256} << 20;
  }();
  return budget;
}

struct Cache {
  std::mutex mutex;
  std::list<StorageBlock> by_age;  // oldest first
  std::multimap<size_t, std::list<StorageBlock>::iterator> by_size;
  size_t held = 0;

  void erase(std::multimap<size_t, std::list<StorageBlock>::iterator>::iterator it) {
    held -= it->first;
    by_age.erase(it->second);
    by_size.erase(it);
  }
};

// Never destroyed: tensors may be freed from static destructors or threads that outlive main().
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

void* allocate(size_t capacity) { return std::aligned_alloc(64, capacity); }

StorageBlock acquire_uncounted(size_t bytes) {
  if (bytes < kStorageCacheMinBytes) {
    const size_t capacity = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
    void* p = allocate(capacity);
    return p ? StorageBlock{p, capacity} : StorageBlock{};
  }
  const size_t capacity = (bytes + kPage - 1) / kPage * kPage;
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.by_size.lower_bound(capacity);
    if (it != c.by_size.end() && it->first - capacity <= capacity / 8) {
      StorageBlock block = *it->second;
      c.erase(it);
      return block;
    }
  }
  void* p = allocate(capacity);
  if (!p) {
    storage_cache_clear();  // the cache may hold what this allocation needs
    p = allocate(capacity);
  }
  return p ? StorageBlock{p, capacity} : StorageBlock{};
}

}  // namespace

StorageBlock storage_acquire(size_t bytes) {
  // Above physical memory the allocation cannot be backed: refuse it instead of letting overcommit accept it.
  if (bytes > physical_memory_bytes()) return StorageBlock{};
  StorageBlock block = acquire_uncounted(bytes);
  if (block.ptr) ditto::detail::count_allocation(block.capacity);
  return block;
}

void storage_release(StorageBlock block) {
  if (!block.ptr) return;
  ditto::detail::count_release(block.capacity);
  const size_t budget = budget_bytes();
  if (block.capacity < kStorageCacheMinBytes || block.capacity > budget / 2) {
    std::free(block.ptr);
    return;
  }
  std::list<StorageBlock> evicted;
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.by_age.push_back(block);
    c.by_size.emplace(block.capacity, std::prev(c.by_age.end()));
    c.held += block.capacity;
    while (c.held > budget) {
      const StorageBlock oldest = c.by_age.front();
      auto range = c.by_size.equal_range(oldest.capacity);
      for (auto it = range.first; it != range.second; ++it) {
        if (it->second == c.by_age.begin()) {
          evicted.push_back(oldest);
          c.erase(it);
          break;
        }
      }
    }
  }
  for (const StorageBlock& b : evicted) std::free(b.ptr);  // outside the lock: munmap can take a while
}

void storage_cache_clear() {
  std::list<StorageBlock> all;
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    all.swap(c.by_age);
    c.by_size.clear();
    c.held = 0;
  }
  for (const StorageBlock& b : all) std::free(b.ptr);
}

size_t storage_cache_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.held;
}

}  // namespace ditto::detail

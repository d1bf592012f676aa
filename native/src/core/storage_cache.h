// Internal: a bounded cache of recently freed large tensor blocks, so that a tensor allocated in a loop (a sampler
// step's outputs, a forward's activations) reuses memory whose pages are already mapped instead of paying for a
// fresh mmap, a page fault per 4 KiB page on first touch and a munmap on free. glibc serves blocks of this size with
// mmap and, for a request equal to its dynamic threshold, keeps doing so (`size >= mmap_threshold`), so without
// this every same-shaped tensor costs 1,200 page faults per 4.9 MB. Blocks are handed out best-fit within 1/8 of
// the requested size; the cache never holds more than its byte budget (oldest blocks are freed first).
#pragma once
#include <cstddef>

namespace ditto::detail {

// Blocks below this go straight to malloc/free (glibc's heap bins already reuse them without page faults).
inline constexpr size_t kStorageCacheMinBytes = size_t{256} << 10;

struct StorageBlock {
  void* ptr = nullptr;
  size_t capacity = 0;  // bytes actually allocated (≥ the request, 4 KiB multiple for cached sizes)
};

// A 64-byte aligned block of at least `bytes` bytes (uninitialised), or {nullptr, 0} when out of memory.
StorageBlock storage_acquire(size_t bytes);
// Returns a block from storage_acquire; it is cached for reuse or freed.
void storage_release(StorageBlock block);
// Frees every cached block (the allocator's retry path on failure; tests).
void storage_cache_clear();
// Bytes currently held by the cache (not by live tensors).
size_t storage_cache_bytes();

}  // namespace ditto::detail

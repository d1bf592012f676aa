// Engine memory accounting: every block of host memory the engine holds — tensor storage (workspaces, session
// slots, results), packed weights and their bias / embedding tables, per-thread kernel scratch — is counted
// here when it is allocated and when it is freed, so allocated_bytes() is the engine's own figure (not sampled
// RSS) and a test can assert that an aborted generation gives back every byte (issue 24, docs/reliability.md).
// Not counted: the mmap'd checkpoint (file pages, borrowed), the f32 copy of one Linear that exists for a moment
// while it is packed, blocks parked in the storage cache (cached_bytes(), core/storage_cache.h) and CUDA memory.
// Counters are process-wide (all models, all worker threads) and lock-free; peak trackers watch the high-water
// mark over an interval (one generate() call) without resetting the process-wide peak another caller relies on.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "ditto/status.h"

namespace ditto {

struct MemoryCounters {
  uint64_t allocated_bytes = 0;  // held now by live engine objects
  uint64_t peak_bytes = 0;       // the most ever held at once (since start or reset_peak_memory())
  uint64_t allocations = 0;      // blocks allocated so far (monotonic)
  uint64_t live_blocks = 0;      // blocks allocated and not yet freed
  uint64_t cached_bytes = 0;     // freed tensor blocks kept mapped for reuse (not in allocated_bytes)
};

MemoryCounters memory_counters();
uint64_t allocated_bytes();
// Sets the process-wide peak to the current allocation.
void reset_peak_memory();

// Peak trackers: begin_peak_tracking() returns an id whose high-water mark starts at the current allocation;
// end_peak_tracking(id) returns it and forgets the id (0 for an unknown id). At most kMaxPeakTrackers at once;
// begin returns -1 when all are in use.
inline constexpr int kMaxPeakTrackers = 256;
int begin_peak_tracking();
uint64_t end_peak_tracking(int id);

// The machine's physical memory in bytes (sysconf), or UINT64_MAX when unknown.
uint64_t physical_memory_bytes();
// kOutOfMemory "<what> would need N bytes but this machine has M bytes of memory" when `bytes` exceeds physical
// memory: for sizes computed from user input, checked before anything is allocated.
Status check_fits_in_memory(double bytes, const std::string& what);

// Counted, 64-byte aligned host allocation; nullptr when out of memory (or above physical memory).
void* counted_alloc(size_t bytes);
void counted_free(void* ptr, size_t bytes);

namespace detail {
void count_allocation(size_t bytes);  // for allocators with their own free lists (the storage cache)
void count_release(size_t bytes);
uint64_t cached_bytes_hook();
}  // namespace detail

// std::allocator that counts through counted_alloc (host tables that live as long as a model).
template <class T>
struct CountingAllocator {
  using value_type = T;
  CountingAllocator() noexcept = default;
  template <class U> CountingAllocator(const CountingAllocator<U>&) noexcept {}
  T* allocate(size_t n) {
    if (n > std::numeric_limits<size_t>::max() / sizeof(T)) throw std::bad_alloc();
    void* p = counted_alloc(n * sizeof(T));
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) noexcept { counted_free(p, n * sizeof(T)); }
  template <class U> bool operator==(const CountingAllocator<U>&) const noexcept { return true; }
};

template <class T>
using HostVector = std::vector<T, CountingAllocator<T>>;

}  // namespace ditto

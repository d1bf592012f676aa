// The engine's allocation counters (ditto/memory.h): atomics for the current / peak / count, a fixed array of
// peak trackers updated with a CAS-max on every allocation, and the physical-memory cap that refuses absurd
// requests before the kernel's overcommit would accept them (and the process die on first touch).
#include "ditto/memory.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <mutex>

#include "core/storage_cache.h"

namespace ditto {
namespace {

std::atomic<uint64_t> g_allocated{0};
std::atomic<uint64_t> g_peak{0};
std::atomic<uint64_t> g_allocations{0};
std::atomic<uint64_t> g_live_blocks{0};

struct Tracker {
  std::atomic<bool> active{false};
  std::atomic<uint64_t> peak{0};
};
std::array<Tracker, kMaxPeakTrackers> g_trackers;
std::atomic<int> g_active_trackers{0};
std::mutex g_tracker_mutex;  // begin / end only; updates are lock-free

void raise_to(std::atomic<uint64_t>& peak, uint64_t value) {
  uint64_t seen = peak.load(std::memory_order_relaxed);
  while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

namespace detail {

void count_allocation(size_t bytes) {
  const uint64_t now = g_allocated.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  g_live_blocks.fetch_add(1, std::memory_order_relaxed);
  raise_to(g_peak, now);
  if (g_active_trackers.load(std::memory_order_acquire) > 0)
    for (Tracker& t : g_trackers)
      if (t.active.load(std::memory_order_acquire)) raise_to(t.peak, now);
}

void count_release(size_t bytes) {
  g_allocated.fetch_sub(bytes, std::memory_order_relaxed);
  g_live_blocks.fetch_sub(1, std::memory_order_relaxed);
}

uint64_t cached_bytes_hook() { return storage_cache_bytes(); }

}  // namespace detail

MemoryCounters memory_counters() {
  MemoryCounters c;
  c.allocated_bytes = g_allocated.load(std::memory_order_relaxed);
  c.peak_bytes = g_peak.load(std::memory_order_relaxed);
  c.allocations = g_allocations.load(std::memory_order_relaxed);
  c.live_blocks = g_live_blocks.load(std::memory_order_relaxed);
  c.cached_bytes = detail::cached_bytes_hook();
  return c;
}

uint64_t allocated_bytes() { return g_allocated.load(std::memory_order_relaxed); }

void reset_peak_memory() { g_peak.store(g_allocated.load(std::memory_order_relaxed), std::memory_order_relaxed); }

int begin_peak_tracking() {
  std::lock_guard<std::mutex> lock(g_tracker_mutex);
  for (int i = 0; i < kMaxPeakTrackers; ++i) {
    Tracker& t = g_trackers[static_cast<size_t>(i)];
    if (!t.active.load(std::memory_order_relaxed)) {
      t.peak.store(g_allocated.load(std::memory_order_relaxed), std::memory_order_relaxed);
      t.active.store(true, std::memory_order_release);
      g_active_trackers.fetch_add(1, std::memory_order_release);
      return i;
    }
  }
  return -1;
}

uint64_t end_peak_tracking(int id) {
  if (id < 0 || id >= kMaxPeakTrackers) return 0;
  std::lock_guard<std::mutex> lock(g_tracker_mutex);
  Tracker& t = g_trackers[static_cast<size_t>(id)];
  if (!t.active.load(std::memory_order_relaxed)) return 0;
  t.active.store(false, std::memory_order_release);
  g_active_trackers.fetch_sub(1, std::memory_order_release);
  return t.peak.load(std::memory_order_relaxed);
}

uint64_t physical_memory_bytes() {
  static const uint64_t bytes = [] {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return std::numeric_limits<uint64_t>::max();
    return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  }();
  return bytes;
}

Status check_fits_in_memory(double bytes, const std::string& what) {
  const uint64_t limit = physical_memory_bytes();
  if (!(bytes <= static_cast<double>(limit)))
    return out_of_memory(what + " would need " + std::to_string(static_cast<unsigned long long>(std::min(bytes, 1.8e19))) +
                         " bytes but this machine has " + std::to_string(limit) + " bytes of memory");
  return Status::Ok();
}

void* counted_alloc(size_t bytes) {
  if (bytes > physical_memory_bytes()) return nullptr;
  const size_t capacity = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, capacity);
  if (p) detail::count_allocation(bytes);
  return p;
}

void counted_free(void* ptr, size_t bytes) {
  if (!ptr) return;
  std::free(ptr);
  detail::count_release(bytes);
}

}  // namespace ditto

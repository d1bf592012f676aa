// The engine's own memory counters (native/include/ditto/memory.h): every host block the engine holds — tensor
// storage, packed weights and tables, workspaces, session slots, per-thread kernel scratch — counted when it is
// allocated and when it is freed. Process-wide (all models, tensors and worker threads); see docs/reliability.md.
import { native } from "./native.js";

export interface MemoryStats {
  /** Bytes held now by live engine objects. */
  allocatedBytes: number;
  /** The most held at once since the process started or `resetPeakMemory()`. */
  peakBytes: number;
  /** Blocks allocated so far (monotonic). */
  allocations: number;
  /** Blocks allocated and not yet freed. */
  liveBlocks: number;
  /** Freed tensor blocks the storage cache keeps mapped for reuse (not part of allocatedBytes). */
  cachedBytes: number;
}

/** The engine's allocation counters now. */
export function memory(): MemoryStats {
  return native().memory();
}

/** Starts `memory().peakBytes` again from the current allocation. */
export function resetPeakMemory(): void {
  native().resetPeakMemory();
}

/** Watches the engine's high-water mark from now on; the returned function stops watching and returns it (bytes).
 * Independent of `resetPeakMemory()` and of other watchers (one per generate() call). */
export function watchPeakMemory(): () => number {
  const addon = native();
  const id = addon.beginPeakTracking();
  const start = addon.memory().allocatedBytes;
  let result: number | undefined;
  return () => {
    // Every tracker in use (more than 256 at once): fall back to the allocation at start and now.
    result ??= id >= 0 ? addon.endPeakTracking(id) : Math.max(start, addon.memory().allocatedBytes);
    return result;
  };
}

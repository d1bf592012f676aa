// Kernel thread counts. More threads than the cores this process may run on only add contention (2 steps of the
// glyph model took 18.7 s with threads: 1000 on 2 cores, issue 22), so loadModel, Pipeline.load, the metric
// classifier and the CLI cap a larger request at the core count (os.availableParallelism, which honours the CPU
// affinity mask) and say so with a process warning (code DITTO_THREADS_CAPPED) instead of oversubscribing.
import { availableParallelism } from "node:os";

export const THREADS_CAPPED = "DITTO_THREADS_CAPPED";
/** The largest request accepted at all (larger is an argument error, not a cap). */
export const MAX_THREADS = 1024;

/** The cores this process may run on. */
export function availableCores(): number {
  return availableParallelism();
}

/**
 * `threads` capped at availableCores(); when it had to cap, `warn` gets a message naming `name` (default: a process
 * warning with code DITTO_THREADS_CAPPED; the CLI prints its own line instead).
 */
export function capThreads(
  threads: number | undefined,
  name: string,
  warn: (message: string) => void = (message) => process.emitWarning(message, { code: THREADS_CAPPED }),
): number | undefined {
  if (threads === undefined) return undefined;
  const cores = availableCores();
  if (threads <= cores) return threads;
  warn(`${name} ${threads} is more than the ${cores} cores available to this process; using ${cores}`);
  return cores;
}

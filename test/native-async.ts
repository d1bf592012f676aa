// Waiting helpers shared by the native tests (leaks, lifecycle, numerics, model, vae): the engine's allocation
// counter (src/memory.ts) settling after frees that happen on other threads, and a promise's rejection.
import { DittoError } from "../src/errors.js";
import { memory } from "../src/memory.js";

// Native frees that follow a settled promise (a session's end job, the model's job thread exiting after dispose)
// happen on other threads a moment later: wait (bounded by count, not by time) until the counter reaches `bytes`.
export async function settleAt(bytes: number): Promise<number> {
  for (let i = 0; i < 500 && memory().allocatedBytes !== bytes; i++) await new Promise((r) => setTimeout(r, 10));
  return memory().allocatedBytes;
}

// The counter once it has stopped moving (five polls in a row unchanged): the previous test's model may still be
// on its way out (its job thread exits just after dispose).
export async function settled(): Promise<number> {
  let last = memory().allocatedBytes;
  for (let same = 0, i = 0; same < 5 && i < 500; i++) {
    await new Promise((r) => setTimeout(r, 10));
    const now = memory().allocatedBytes;
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

// The error `promise` rejects with; throws when it fulfils.
export async function rejection(promise: Promise<unknown>): Promise<DittoError> {
  try {
    await promise;
  } catch (e) {
    return e as DittoError;
  }
  throw new Error("expected a rejection");
}

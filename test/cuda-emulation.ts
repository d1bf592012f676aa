// Shared setup of the tests that run the addon's 'cuda' path through the host emulation of the CUDA backend
// (docs/cuda.md, "Testing without a GPU"): the test-only switch, the emulated library, the model and the bound the
// emulated backend is held to against the CPU engine.
import { expect } from "vitest";

const ROOT = new URL("../", import.meta.url).pathname;
export const EMULATED = `${ROOT}build/libditto_cuda_emulated.so`;
export const MODEL = `${ROOT}examples/models/glyphs`;
/** max|Δ| of a 'cuda' result against the CPU engine's. */
export const TOLERANCE = 1e-4;

/** Points the device loader at the emulated backend (read when a 'cuda' device is first probed). */
export function useEmulatedCuda(): void {
  process.env.DITTO_CUDA_LIB = EMULATED;
  process.env.DITTO_CUDA_EMULATED = "1";
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

// Elementwise tolerance check of `ditto verify` (shared/golden/README.md "Tolerances"): pass iff
// |a − b| ≤ atol + rtol·|b| for every element; worstRatio = max |a − b| / (atol + rtol·|b|). Tolerances come from
// config.json tolerances.per_tensor[name]; tensors without an entry get the README's recipe
// (rtol F = 3e-5, atol = F·max(1, max|ref|)); integer tensors are compared exactly.
import type { VerifyOutputResult } from "./types.js";

export interface Tolerance {
  atol: number;
  rtol: number;
}

export const DEFAULT_RTOL = 3e-5;

export function defaultTolerance(expected: ArrayLike<number>, isInteger = false): Tolerance {
  if (isInteger) return { atol: 0, rtol: 0 };
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
  return { atol: DEFAULT_RTOL * Math.max(1, maxAbs), rtol: DEFAULT_RTOL };
}

/** Tolerance of `name` from a golden config.json, or the default recipe. */
export function toleranceFor(config: Record<string, any> | undefined, name: string, expected: ArrayLike<number>, isInteger = false): Tolerance {
  const entry = config?.tolerances?.per_tensor?.[name];
  if (entry && typeof entry.atol === "number" && typeof entry.rtol === "number") return { atol: entry.atol, rtol: entry.rtol };
  return defaultTolerance(expected, isInteger);
}

export function compareArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: Tolerance): VerifyOutputResult {
  const { atol, rtol } = tolerance;
  if (actual.length !== expected.length) {
    return { maxAbsErr: null, worstRatio: null, atol, rtol, pass: false, error: `size mismatch: produced ${actual.length} values, reference has ${expected.length}` };
  }
  let maxAbsErr = 0;
  let worstRatio = 0;
  let pass = true;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const b = expected[i]!;
    const diff = Math.abs(a - b);
    if (!(diff <= atol + rtol * Math.abs(b))) pass = false; // NaN fails too
    if (!Number.isFinite(diff)) {
      return { maxAbsErr: null, worstRatio: null, atol, rtol, pass: false, error: `non-finite value at index ${i} (produced ${a}, reference ${b})` };
    }
    maxAbsErr = Math.max(maxAbsErr, diff);
    const bound = atol + rtol * Math.abs(b);
    worstRatio = Math.max(worstRatio, bound > 0 ? diff / bound : diff === 0 ? 0 : Number.MAX_VALUE);
  }
  return { maxAbsErr, worstRatio, atol, rtol, pass };
}

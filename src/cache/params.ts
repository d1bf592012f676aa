// Parameter checks shared by the cache policies, with the house messages
// (`Expected number between 0 and 1 for cache.threshold but received 2`).
import { rangeError } from "../errors.js";
import type { PolicySpec } from "../policySpec.js";

export function intParam(p: PolicySpec, key: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = p[key] ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw rangeError(max === Number.MAX_SAFE_INTEGER ? `integer >= ${min}` : `integer between ${min} and ${max}`, `cache.${key}`, v);
  }
  return v;
}

export function numberParam(p: PolicySpec, key: string, fallback: number, min: number, max = Infinity): number {
  const v = p[key] ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
    throw rangeError(max === Infinity ? `number >= ${min}` : `number between ${min} and ${max}`, `cache.${key}`, v);
  }
  return v;
}

export function numbersParam(p: PolicySpec, key: string): number[] | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === "number" && Number.isFinite(x))) {
    throw rangeError("non-empty array of finite numbers", `cache.${key}`, v);
  }
  return [...v];
}

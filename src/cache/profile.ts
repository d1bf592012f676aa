// Calibration profiles (`ditto calibrate --out profile.json`): what the calibrated policies fit from calibration
// seeds — TeaCache's polynomial (input change → residual change, least squares) and MagCache's residual-magnitude
// ratio curve. Shipped defaults hold no per-model numbers; a model's numbers come only through such a file.
import { readFileSync } from "node:fs";

import { DittoError } from "../errors.js";

export const PROFILE_FORMAT = "ditto-cache-profile/1";

export interface CacheProfile {
  format: typeof PROFILE_FORMAT;
  /** What it was fitted on (fixture, seeds, steps, cfg). */
  source: Record<string, unknown>;
  teaCache: { coefficients: number[] };
  magCache: { ratios: number[] };
}

function finiteList(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "number" && Number.isFinite(x));
}

/** Reads and checks a profile file (ERR_INVALID_ARGUMENT says what is wrong). */
export function readCacheProfile(file: string): CacheProfile {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new DittoError("ERR_INVALID_ARGUMENT", `Cannot read cache profile ${file}: ${(e as Error).message}`);
  }
  const p = value as Partial<CacheProfile>;
  if (p === null || typeof p !== "object" || p.format !== PROFILE_FORMAT || !finiteList(p.teaCache?.coefficients) || !finiteList(p.magCache?.ratios)) {
    throw new DittoError("ERR_INVALID_ARGUMENT", `Expected a ${PROFILE_FORMAT} file from ditto calibrate (teaCache.coefficients, magCache.ratios) in ${file}`);
  }
  return p as CacheProfile;
}

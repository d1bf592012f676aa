// Reading a quality fixture folder (the layout of shared/fixtures/glyphs, vendored in examples/models/glyphs): the
// model's dit.json (architecture, labels, recommended sampler settings), the metric network classifier.onnx and the
// reference feature statistics real-stats.safetensors. Every number comes from these files, never from code, so a
// stronger fixture with the same layout drops in.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

import { DittoError } from "../errors.js";
import { readSafetensors, requireTensor } from "../io/safetensors.js";
import type { GaussianStats } from "../metrics/frechet.js";

export interface FixtureInfo {
  dir: string;
  numClasses: number;
  nullLabel: number;
  channels: number;
  height: number;
  width: number;
  recommendedSteps: number | undefined;
  recommendedCfg: number | undefined;
  /** MACs of one batch-1 forward as dit.json states it, if it does. */
  macsPerForward: number | undefined;
  classNames: string[] | undefined;
}

function fixtureError(dir: string, message: string): DittoError {
  return new DittoError("ERR_MODEL_LOAD", `Invalid fixture ${dir}: ${message}`);
}

/** Reads dit.json of a fixture (or model) folder. */
export function readFixtureInfo(dir: string): FixtureInfo {
  const jsonPath = path.join(dir, "dit.json");
  if (!existsSync(jsonPath)) throw fixtureError(dir, `expected ${jsonPath} (the model's dit.json)`);
  let json: Record<string, any>;
  try {
    json = JSON.parse(readFileSync(jsonPath, "utf8"));
  } catch (e) {
    throw fixtureError(dir, `${jsonPath} is not valid JSON (${(e as Error).message})`);
  }
  const kwargs = json.kwargs ?? {};
  const numClasses = Number(json.labels?.num_classes ?? kwargs.num_classes);
  const size = Number(kwargs.input_size);
  const channels = Number(kwargs.in_channels);
  if (!Number.isInteger(numClasses) || !Number.isInteger(size) || !Number.isInteger(channels)) {
    throw fixtureError(dir, `${jsonPath} lacks kwargs.num_classes / input_size / in_channels`);
  }
  const optionalNumber = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
  return {
    dir,
    numClasses,
    nullLabel: optionalNumber(json.labels?.null_label) ?? numClasses,
    channels,
    height: size,
    width: size,
    recommendedSteps: optionalNumber(json.sampler?.recommended_steps),
    recommendedCfg: optionalNumber(json.sampler?.recommended_cfg),
    macsPerForward: optionalNumber(json.macs_per_forward?.total),
    classNames: Array.isArray(json.data?.classes) ? json.data.classes.map(String) : undefined,
  };
}

/** `mu` f64 [D] and `sigma` f64 [D, D] of the fixture's real images. */
export function loadRealStats(dir: string): GaussianStats {
  const file = path.join(dir, "real-stats.safetensors");
  const content = readSafetensors(file);
  const mu = requireTensor(content, "mu", file), sigma = requireTensor(content, "sigma", file);
  const dim = mu.shape[0] ?? 0;
  if (mu.dtype !== "F64" || sigma.dtype !== "F64" || sigma.shape.length !== 2 || sigma.shape[0] !== dim || sigma.shape[1] !== dim) {
    throw fixtureError(dir, `${file} must hold mu F64 [D] and sigma F64 [D, D]`);
  }
  return { dim, mu: mu.data as Float64Array, sigma: sigma.data as Float64Array };
}

export function classifierPath(dir: string): string {
  const file = path.join(dir, "classifier.onnx");
  if (!existsSync(file)) throw fixtureError(dir, `expected the metric network ${file}`);
  return file;
}

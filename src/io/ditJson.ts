// Reading a model folder's dit.json (the layout of shared/fixtures/glyphs, vendored in examples/models/glyphs):
// architecture kwargs, labels (class count, null label, names), the recommended sampler settings and the stated MAC
// count. Every number comes from the file, never from code, so a stronger fixture with the same layout drops in.
// Shared by the pipeline (recommended settings), the CLI and the eval harness.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

import { DittoError } from "../errors.js";

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

export function fixtureError(dir: string, message: string): DittoError {
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


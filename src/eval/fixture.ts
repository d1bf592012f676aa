// Reading a quality fixture folder (the layout of shared/fixtures/glyphs, vendored in examples/models/glyphs): the
// metric network classifier.onnx and the reference feature statistics real-stats.safetensors (the model's dit.json
// is read by src/io/ditJson.ts, which the pipeline shares). Every number comes from these files, never from code, so a
// stronger fixture with the same layout drops in.
import { existsSync } from "node:fs";
import path from "node:path";

import { fixtureError } from "../io/ditJson.js";
import { readSafetensors, requireTensor } from "../io/safetensors.js";
import type { GaussianStats } from "../metrics/frechet.js";

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

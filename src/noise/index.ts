// Initial-noise sources for sampling: Ditto's own Philox generator (the default) and the glyph fixture's portable
// reference generator (bit-exact with the fixture's evaluation runs). Both give sample i's noise from its seed alone.
// batchNoiseTensor (batch.ts) produces a batch's noise natively off the JS thread, bit-identical to these.
import { philoxGaussian } from "./philox.js";
import { referenceGaussian } from "./reference.js";

export { philoxGaussian, philox4x32, philoxKey } from "./philox.js";
export { referenceGaussian } from "./reference.js";
export { batchNoiseTensor } from "./batch.js";

export type NoiseKind = "philox" | "reference";
export const NOISE_KINDS: readonly NoiseKind[] = ["philox", "reference"];

/** One sample's initial noise: `count` float32 N(0, 1) values from `seed` with the named generator. */
export function sampleNoise(kind: NoiseKind, seed: number, count: number): Float32Array {
  return kind === "reference" ? referenceGaussian(seed, count) : philoxGaussian(seed, count);
}

/** Noise for a batch: sample i uses seeds[i]; the result is the samples' noise concatenated (batch-independent). */
export function batchNoise(kind: NoiseKind, seeds: readonly number[], countPerSample: number): Float32Array {
  const out = new Float32Array(seeds.length * countPerSample);
  seeds.forEach((seed, i) => out.set(sampleNoise(kind, seed, countPerSample), i * countPerSample));
  return out;
}

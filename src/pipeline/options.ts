// Argument checking for Pipeline.generate (docs/architecture.md, "Errors": TypeError/RangeError "Expected <what> for <name> but received
// <value>", thrown before any native work). Also turns seeds, init images and masks into per-sample arrays.
import { CachePolicy } from "../cache/policy.js";
import { rangeError, typeError } from "../errors.js";
import { ClassifierFreeGuidance } from "../guidance/cfg.js";
import type { Guider } from "../guidance/guider.js";
import { guiderFrom } from "../guidance/policy.js";
import { Image } from "../images/image.js";
import { NOISE_KINDS, type NoiseKind } from "../noise/index.js";
import type { PolicySpec } from "../policySpec.js";
import { Tensor } from "../tensor.js";
import type { PipelineScheduler } from "./scheduler.js";

export interface StepEvent {
  /** 1-based index of the step just finished. */
  step: number;
  total: number;
  /** Noise level the step started from. */
  sigma: number;
  computedBlocks: number;
  reusedBlocks: number;
  /** Wall time of this step. */
  ms: number;
}

export interface GenerateOptions {
  /** One class label per sample (0…numClasses−1; numClasses = unconditional). */
  classLabels: readonly number[] | Int32Array;
  /** Sampling steps (default: the model's recommended steps). */
  steps?: number;
  /** One seed for all (sample i uses seed + i) or one per sample. Default: random. */
  seed?: number | readonly number[];
  /** CFG scale s: v = v_u + s·(v_c − v_u); 1 runs the conditional pass only. Default: the model's recommendation.
   * A `guidance` method, when given, takes over. */
  guidanceScale?: number;
  /** 'flow-euler' (the model's reference sampler) or a scheduler object (timesteps / sigmas / step). */
  scheduler?: "flow-euler" | PipelineScheduler;
  /** Initial-noise generator: 'philox' (default) or the glyph fixture's 'reference' (splitmix64). */
  noise?: NoiseKind;
  onStep?: (event: StepEvent) => void;
  signal?: AbortSignal;
  /** img2img / inpainting source: model-space [N or 1, C, H, W] Tensor or Float32Array, or Image(s). */
  initImage?: Tensor | Float32Array | Image | readonly Image[];
  /** img2img: how much of the schedule to run, (0, 1]; 1 = from pure noise. Default 1 with a mask, else 0.8. */
  strength?: number;
  /** Inpainting: 1 = regenerate, 0 = keep initImage. A Tensor [H, W], [N or 1, 1 or C, H, W], or H·W values. */
  mask?: Tensor | Float32Array;
  /** Block cache policy (a CachePolicy, SPEC string or { kind, …params }; docs/caching.md). */
  cache?: CachePolicy | PolicySpec | string;
  /** Cap on the bytes the cache stores per generation: over it a block computes instead (never an error). */
  cacheBudgetBytes?: number;
  /** Guidance method (a Guider, SPEC string or { kind, …params }: docs/guidance.md); replaces guidanceScale. */
  guidance?: Guider | PolicySpec | string;
}

export interface CheckedGenerate {
  labels: Int32Array;
  steps: number;
  seeds: number[];
  guidanceScale: number;
  /** The guidance method the loop runs: `guidance`, or CFG at guidanceScale. */
  guider: Guider;
  cache: CachePolicy;
  cacheBudgetBytes: number | undefined;
  noise: NoiseKind;
  strength: number;
}

/** The most sampling steps one generate() runs. */
export const MAX_STEPS = 10_000;

export function checkGenerateOptions(
  options: GenerateOptions,
  defaults: { steps: number; guidanceScale: number; numClasses: number },
): CheckedGenerate {
  if (options === null || typeof options !== "object") throw typeError("object", "options", options);
  const { classLabels } = options;
  if (!(classLabels instanceof Int32Array) && !Array.isArray(classLabels)) throw typeError("number[] or Int32Array", "classLabels", classLabels);
  if (classLabels.length === 0) throw rangeError("at least one label", "classLabels", classLabels);
  const labels = Int32Array.from(classLabels as ArrayLike<number>);
  Array.from(classLabels as ArrayLike<number>).forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > defaults.numClasses) {
      throw rangeError(`integer between 0 and ${defaults.numClasses} (${defaults.numClasses} = unconditional)`, `classLabels[${i}]`, v);
    }
  });
  const steps = options.steps ?? defaults.steps;
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_STEPS) throw rangeError(`integer between 1 and ${MAX_STEPS}`, "steps", steps);
  const guidanceScale = options.guidanceScale ?? defaults.guidanceScale;
  if (typeof guidanceScale !== "number" || !Number.isFinite(guidanceScale)) throw typeError("finite number", "guidanceScale", guidanceScale);
  if (guidanceScale < 0) throw rangeError("finite number >= 0", "guidanceScale", guidanceScale);
  const noise = options.noise ?? "philox";
  if (!NOISE_KINDS.includes(noise)) throw typeError(`one of ${NOISE_KINDS.map((k) => `'${k}'`).join(", ")}`, "noise", noise);
  const seeds = checkSeeds(options.seed, labels.length);
  const strength = options.strength ?? (options.initImage !== undefined && options.mask === undefined ? 0.8 : 1);
  if (typeof strength !== "number" || !(strength > 0 && strength <= 1)) throw rangeError("number in (0, 1]", "strength", strength);
  if (options.strength !== undefined && options.initImage === undefined) throw rangeError("initImage together with strength", "initImage", undefined);
  if (options.mask !== undefined && options.initImage === undefined) throw rangeError("initImage together with mask", "initImage", undefined);
  if (options.onStep !== undefined && typeof options.onStep !== "function") throw typeError("function", "onStep", options.onStep);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw typeError("AbortSignal", "signal", options.signal);
  // Policies the engine cannot run yet are refused here (src/cache/policy.ts, src/guidance/policy.ts), not ignored.
  const cache = options.cache === undefined ? CachePolicy.none() : CachePolicy.from(options.cache);
  const guider = options.guidance === undefined ? new ClassifierFreeGuidance({ scale: guidanceScale }) : guiderFrom(options.guidance, { cfgScale: guidanceScale });
  const { cacheBudgetBytes } = options;
  if (cacheBudgetBytes !== undefined && (typeof cacheBudgetBytes !== "number" || !Number.isSafeInteger(cacheBudgetBytes) || cacheBudgetBytes < 1)) {
    throw rangeError("positive integer", "cacheBudgetBytes", cacheBudgetBytes);
  }
  return { labels, steps, seeds, guidanceScale, guider, cache, cacheBudgetBytes, noise, strength };
}

/**
 * Refuses, before any work, a cache policy or guidance method the engine cannot run yet (the same check
 * generate() makes). Also called by `ditto eval` before it loads anything.
 */
export function checkPolicies(options: Pick<GenerateOptions, "cache" | "guidance">): void {
  if (options.cache !== undefined) CachePolicy.from(options.cache);
  if (options.guidance !== undefined) guiderFrom(options.guidance);
}

/**
 * What a base seed for `count` samples must be: sample i uses `name` + i, which must stay a safe integer, so the
 * base is at most MAX_SAFE_INTEGER − (count − 1). One rule for generate({ seed }), eval's seedBase and the CLI.
 */
export function baseSeedRange(count: number, name: string): { max: number; expected: string } {
  const max = Number.MAX_SAFE_INTEGER - (count - 1);
  const why = count > 1 ? ` (sample i of ${count} uses ${name} + i, which must stay a safe integer)` : "";
  return { max, expected: `integer between 0 and ${max}${why}` };
}

function checkSeeds(seed: GenerateOptions["seed"], count: number): number[] {
  const valid = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  if (seed === undefined) {
    const base = Math.floor(Math.random() * 2 ** 32);
    return Array.from({ length: count }, (_, i) => base + i);
  }
  if (typeof seed === "number") {
    const range = baseSeedRange(count, "seed");
    if (!Number.isSafeInteger(seed) || seed < 0 || seed > range.max) throw rangeError(range.expected, "seed", seed);
    return Array.from({ length: count }, (_, i) => seed + i);
  }
  if (!Array.isArray(seed)) throw typeError("number or number[]", "seed", seed);
  if (seed.length !== count) throw new RangeError(`Expected ${count} seeds (one per sample) for seed but received ${seed.length}`);
  seed.forEach((v, i) => { if (!valid(v)) throw rangeError("non-negative safe integer", `seed[${i}]`, v); });
  return [...seed];
}

/** Broadcasts a per-sample source ([1 or N, c or C, H, W] values) to a full [N, C, H, W] Float32Array. */
export function broadcastToBatch(
  values: Float32Array, shape: readonly number[], batch: number, channels: number, height: number, width: number, name: string,
): Float32Array {
  let [n, c, h, w] = shape.length === 2 ? [1, 1, shape[0]!, shape[1]!] : shape.length === 3 ? [1, shape[0]!, shape[1]!, shape[2]!] : shape;
  if (shape.length < 2 || shape.length > 4 || h !== height || w !== width || (n !== 1 && n !== batch) || (c !== 1 && c !== channels)) {
    const either = (v: number) => (v === 1 ? "1" : `1 or ${v}`);
    throw new RangeError(`Expected shape [${either(batch)}, ${either(channels)}, ${height}, ${width}] for ${name} but received [${shape.join(", ")}]`);
  }
  n = n!; c = c!;
  const plane = height * width;
  const out = new Float32Array(batch * channels * plane);
  for (let b = 0; b < batch; b++) for (let ch = 0; ch < channels; ch++) {
    const src = ((n === 1 ? 0 : b) * c + (c === 1 ? 0 : ch)) * plane;
    out.set(values.subarray(src, src + plane), (b * channels + ch) * plane);
  }
  return out;
}

/** An init image option as model-space values with a shape (Images: x = u8/127.5 − 1, HWC → CHW). */
export function initImageValues(init: NonNullable<GenerateOptions["initImage"]>): { values: Float32Array; shape: number[] } {
  if (init instanceof Tensor) {
    const nonFinite = init.countNonFinite();
    if (nonFinite > 0) throw new RangeError(`Expected finite values for initImage but received ${nonFinite} NaN or infinite values`);
    return { values: init.toFloat32Array(), shape: init.shape };
  }
  const images = init instanceof Image ? [init] : Array.isArray(init) && init.every((i) => i instanceof Image) ? init : undefined;
  if (!images) {
    if (init instanceof Float32Array) throw typeError("Tensor or Image (a Float32Array has no shape)", "initImage", init);
    throw typeError("Tensor, Image or Image[]", "initImage", init);
  }
  const { width, height, channels } = images[0]!;
  const plane = width * height;
  const values = new Float32Array(images.length * channels * plane);
  images.forEach((img, k) => {
    if (img.width !== width || img.height !== height || img.channels !== channels) throw rangeError(`images all ${width}×${height}×${channels}`, "initImage", img);
    for (let p = 0; p < plane; p++) for (let c = 0; c < channels; c++) {
      values[(k * channels + c) * plane + p] = Math.fround(Math.fround(img.data[p * channels + c]! / 127.5) - 1);
    }
  });
  return { values, shape: [images.length, channels, height, width] };
}

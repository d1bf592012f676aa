// LatentPipeline: generation in a VAE's latent space for any family, generic on what the model declares
// (docs/models.md): noise in latent space (one Philox stream per sample seed) → the family's scheduler → the VAE
// decode → Images, or for video latents [B, C, F, h, w] → frames (decoded one by one with the 2-D VAE). The model
// is found by loadModel (the family is detected from the checkpoint's tensor names); the VAE is the model folder's
// `vae/` subfolder or an explicit path; without one the pipeline returns latents only (the families' VAEs downscale
// 8×). Pipeline.load (pipeline.ts) reaches this class for every latent checkpoint. Families and their samplers:
//   dit    → DiT's DDIM (learned σ) or the rectified-flow Euler of the glyph fixture;  pixart → DPM-Solver++(2M);
//   sd3    → FlowMatch Euler, shift 3;  flux → FlowMatch Euler with dynamic shifting (μ from the token count), the
//            model gets σ (it multiplies by 1000 itself), latents packed 2×2 into tokens;  wan → UniPC (flow, shift 3).
// Conditions: DiT labels, or the named tensors of model.info.conditions (e.g. encoderHiddenStates) as the caller
// produced them with the model's own text encoder; Flux's txtIds / imgIds (and guidance 3.5) are filled in when absent.
// Guidance (latentGuidance.ts): `guidanceScale` + `negative` (the unconditional branch's conditions) or a `guidance`
// method; every step is the label pipeline's guided step (guidedStep.ts: one session step, the branches batched, the
// Guider's combination), unguided = CFG at scale 1 (the conditional branch alone).
import { existsSync, statSync } from "node:fs";
import path from "node:path";

import { abortError, disposedError, rangeError, typeError } from "../errors.js";
import type { Image } from "../images/image.js";
import type { DeviceSpec } from "../device.js";
import { loadModel, type Model, type ModelDType } from "../model.js";
import type { Labels, ModelConditions, ModelInfo, ModelTensorSpec } from "../modelInputs.js";
import { batchNoiseTensor } from "../noise/index.js";
import { createGlyphReferenceScheduler, createScheduler, fluxMu } from "../schedulers/index.js";
import type { Scheduler } from "../schedulers/types.js";
import { Tensor } from "../tensor.js";
import { loadVae, type Vae } from "../vae.js";
import type { GuidanceStep, Guider } from "../guidance/guider.js";
import type { PolicySpec } from "../policySpec.js";
import { GuidedStepRunner, type BranchInput } from "./guidedStep.js";
import { checkLatentGuider, checkNegative, latentGuidance } from "./latentGuidance.js";

export interface LatentPipelineLoadOptions {
  /** The VAE folder (default: `<model>/vae` when that folder exists, else none: latents only), or a loaded Vae (the
   * pipeline then does not own it). */
  vae?: string | Vae;
  threads?: number;
  /** Weights' dtype of the model and of a VAE it loads (default each checkpoint's: bf16 stays bf16; 'f32' widens). */
  dtype?: ModelDType;
  device?: DeviceSpec;
}

/** The pixel / latent ratio of every supported family's VAE (SD, SDXL, SD3, Flux, PixArt; Wan's 2-D frames). */
export const DEFAULT_VAE_DOWNSCALE = 8;

/** Where a checkpoint path's denoiser and VAE are: `dir/transformer` (diffusers pipeline folder) or `dir` itself, and
 * `dir/vae` when that folder exists (undefined otherwise). */
export function latentPaths(dir: string): { model: string; vae: string | undefined } {
  const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();
  const transformer = path.join(dir, "transformer");
  const vae = path.join(dir, "vae");
  return { model: isDir(transformer) ? transformer : dir, vae: isDir(vae) ? vae : undefined };
}

export type LatentConditions = Int32Array | number[] | Record<string, Tensor | Int32Array | number[]>;

export interface LatentGenerateOptions {
  /** DiT labels, or condition tensors by their model.info.conditions names (batch as dim 0). */
  conditions?: LatentConditions;
  /** Samples (default: dim 0 of the conditions, else 1). */
  batch?: number;
  steps?: number;
  /** Seed of sample 0; sample k uses seed + k. */
  seed?: number;
  /** Image size in pixels where the model takes any size (default: the model's own size, else 512). */
  height?: number;
  width?: number;
  /** Latent frames of a video model (default 1; Wan2.1's 81 pixel frames are 21 latent frames). */
  frames?: number;
  /** Classifier-free guidance scale g: v_u + g(v_c − v_u) with `negative` as the unconditional branch (Flux-dev: the
   * value of its guidance embedding instead; default unguided, Flux-dev 3.5). */
  guidanceScale?: number;
  /** The unconditional branch's conditions: the same names and shapes as `conditions` (e.g. the empty or negative
   * prompt's embeddings); required with guidanceScale / guidance except for DiT labels (default: the null class). */
  negative?: LatentConditions;
  /** A guidance method (a Guider, SPEC string or policy object, docs/guidance.md) instead of guidanceScale; methods
   * whose branches change blocks or use a second model are refused, and ε-predicting families take cfg only. */
  guidance?: Guider | PolicySpec | string;
  /** Replaces the family's scheduler. */
  scheduler?: Scheduler;
  signal?: AbortSignal;
  onStep?: (event: { step: number; steps: number; t: number }) => void;
  onFrame?: (event: { done: number; total: number }) => void;
}

export interface LatentGenerateResult {
  /** Final denoiser latents in the VAE's layout ([B, C, h, w] or [B, C, F, h, w]; unpacked for Flux). */
  latents: Tensor;
  /** One image per sample (image models with a VAE). */
  images?: Image[];
  /** frames[sample][frame] (video models with a VAE). */
  frames?: Image[][];
}

interface Layout {
  kind: "image" | "video" | "packed";
  /** The VAE-layout latent shape (what the noise and the decode use). */
  shape: number[];
  /** What the model's x takes (packed: [B, tokens, 4C]). */
  modelShape: number[];
}

type InfoSpec = ModelTensorSpec;

function modelInfo(model: Model): ModelInfo {
  return model.info;
}

/** The family's sampler, its timestep scale and whether its model predicts a flow velocity (else ε). */
function defaultScheduler(family: string, model: Model): { scheduler: Scheduler; timestepScale: number; flow: boolean } {
  switch (family) {
    case "dit":
      return model.config.learnSigma
        ? { scheduler: createScheduler("dit-ddim"), timestepScale: 1, flow: false }
        : { scheduler: createGlyphReferenceScheduler(), timestepScale: 1, flow: true };
    case "pixart":
      return { scheduler: createScheduler("dpm++2m", { betaSchedule: "linear", betaStart: 0.0001, betaEnd: 0.02 }), timestepScale: 1, flow: false };
    case "sd3":
      return { scheduler: createScheduler("flow-euler", { shift: 3.0 }), timestepScale: 1, flow: true };
    case "flux":
      return { scheduler: createScheduler("flow-euler", { useDynamicShifting: true }), timestepScale: 1 / 1000, flow: true };
    case "wan":
      return { scheduler: createScheduler("unipc", { flowShift: 3.0 }), timestepScale: 1, flow: true };
    default:
      throw rangeError("a model of a family with a latent sampler (dit, pixart, sd3, flux, wan)", "model.family", family);
  }
}

export class LatentPipeline implements Disposable, AsyncDisposable {
  #model: Model | undefined;
  #vae: Vae | undefined;
  readonly #ownsModel: boolean;
  readonly #ownsVae: boolean;
  readonly #hasVae: boolean;
  /** Discriminates Pipeline.load's result (the class-label Pipeline's kind is 'class-conditional'). */
  readonly kind = "latent" as const;
  readonly family: string;

  private constructor(model: Model, ownsModel: boolean, vae: Vae | undefined, ownsVae: boolean) {
    this.#model = model;
    this.#vae = vae;
    this.#ownsModel = ownsModel;
    this.#ownsVae = ownsVae;
    this.#hasVae = vae !== undefined;
    this.family = modelInfo(model).family;
  }

  /** Loads the denoiser (`dir`, or `dir/transformer`) and the VAE (`options.vae`, else `dir/vae` when present). */
  static async load(dir: string, options: LatentPipelineLoadOptions = {}): Promise<LatentPipeline> {
    if (typeof dir !== "string" || dir.length === 0) throw typeError("non-empty string", "dir", dir);
    const paths = latentPaths(dir);
    const model = await loadModel(paths.model, { threads: options.threads, dtype: options.dtype, device: options.device });
    return LatentPipeline.withModel(model, true, options.vae ?? paths.vae, { threads: options.threads, dtype: options.dtype });
  }

  /** @internal Pipeline.load's path: wraps a loaded model (owned or not) with its VAE (a path is loaded and owned). */
  static async withModel(model: Model, ownsModel: boolean, vae: string | Vae | undefined, options: { threads?: number; dtype?: ModelDType } = {}): Promise<LatentPipeline> {
    try {
      if (vae === undefined || typeof vae !== "string") return new LatentPipeline(model, ownsModel, vae, false);
      return new LatentPipeline(model, ownsModel, await loadVae(vae, { threads: options.threads, dtype: options.dtype }), true);
    } catch (e) {
      if (ownsModel) model.dispose();
      throw e;
    }
  }

  get model(): Model {
    if (!this.#model) throw disposedError("LatentPipeline");
    return this.#model;
  }

  /** The VAE (undefined when the pipeline has none: generate then returns latents only). */
  get vae(): Vae | undefined {
    if (!this.#model) throw disposedError("LatentPipeline");
    return this.#vae;
  }

  /** Whether generate decodes to pixels (a VAE was found or given). */
  get hasVae(): boolean {
    return this.#hasVae;
  }

  /** The latent layout for `batch` samples at the requested size (RangeError when the model cannot take it). */
  layout(batch: number, options: { height?: number; width?: number; frames?: number } = {}): Layout {
    const model = this.model, vae = this.vae;
    const f = vae ? vae.config.downscale : DEFAULT_VAE_DOWNSCALE;
    const spec = modelInfo(model).inputs[0]!;
    // Without a VAE the latent width is the model's own (packed: a quarter of the token width).
    const own = spec.shape.length === 3 ? spec.shape[2]! / 4 : spec.shape[1]!;
    const c = vae ? vae.config.latentChannels : own > 0 ? own : Number(model.config.inChannels);
    const size = (value: number | undefined, fixed: number | undefined, name: string): number => {
      if (value !== undefined) {
        if (!Number.isInteger(value) || value < f || value % f !== 0) throw rangeError(`a positive multiple of ${f} (the VAE's downscale)`, name, value);
        const latent = value / f;
        if (fixed !== undefined && fixed > 0 && latent !== fixed) throw rangeError(`${fixed * f} (the model's fixed size)`, name, value);
        return latent;
      }
      return fixed !== undefined && fixed > 0 ? fixed : 512 / f;
    };
    const dims = spec.shape;
    if (dims.length === 5) {
      if (dims[1]! > 0 && dims[1] !== c) throw rangeError(`a VAE with ${dims[1]} latent channels`, "vae.latentChannels", c);
      const frames = options.frames ?? (dims[2]! > 0 ? dims[2]! : 1);
      if (!Number.isInteger(frames) || frames < 1) throw rangeError("positive integer", "frames", frames);
      const shape = [batch, c, frames, size(options.height, dims[3], "height"), size(options.width, dims[4], "width")];
      return { kind: "video", shape, modelShape: shape };
    }
    if (options.frames !== undefined && options.frames !== 1) throw rangeError("1 (an image model)", "frames", options.frames);
    if (dims.length === 3) {
      if (dims[2]! > 0 && dims[2] !== 4 * c) throw rangeError(`a VAE with ${dims[2]! / 4} latent channels (packed 2×2)`, "vae.latentChannels", c);
      const h = size(options.height, undefined, "height"), w = size(options.width, undefined, "width");
      if (h % 2 || w % 2) throw rangeError(`a multiple of ${2 * f} (2×2 latent packing)`, h % 2 ? "height" : "width", (h % 2 ? h : w) * f);
      return { kind: "packed", shape: [batch, c, h, w], modelShape: [batch, (h / 2) * (w / 2), 4 * c] };
    }
    if (dims[1]! > 0 && dims[1] !== c) throw rangeError(`a VAE with ${dims[1]} latent channels (the model's input channels)`, "vae.latentChannels", c);
    // A size the spec leaves free may still be fixed by the config (DiT's inputSize: its position table).
    const configured = typeof model.config.inputSize === "number" ? model.config.inputSize : undefined;
    const fixed = (d: number | undefined) => (d !== undefined && d > 0 ? d : configured);
    const shape = [batch, c, size(options.height, fixed(dims[2]), "height"), size(options.width, fixed(dims[3]), "width")];
    return { kind: "image", shape, modelShape: shape };
  }

  async generate(options: LatentGenerateOptions = {}): Promise<LatentGenerateResult> {
    if (options === null || typeof options !== "object") throw typeError("object", "options", options);
    const model = this.model, vae = this.vae;
    const info = modelInfo(model);
    const steps = options.steps ?? 28;
    if (!Number.isInteger(steps) || steps < 1 || steps > 1000) throw rangeError("integer between 1 and 1000", "options.steps", steps);
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed) || seed < 0) throw rangeError("non-negative safe integer", "options.seed", seed);
    const batch = options.batch ?? conditionBatch(options.conditions) ?? 1;
    if (!Number.isInteger(batch) || batch < 1 || batch > 1024) throw rangeError("integer between 1 and 1024", "options.batch", batch);
    const layout = this.layout(batch, options);
    const { scheduler: familyScheduler, timestepScale, flow } = defaultScheduler(info.family, model);
    const scheduler = options.scheduler ?? familyScheduler;
    const { guider, embeddedScale } = latentGuidance(info, options, flow);
    const conditions = this.#conditions(info, options.conditions, batch, layout, "options.conditions", embeddedScale);
    const inputs = { class: branchInput(conditions), null: this.#negative(info, options.negative, conditions, batch, layout) };

    const sampleShape = layout.shape.slice(1);
    const seeds = Array.from({ length: batch }, (_, k) => seed + k);
    const noise = await batchNoiseTensor("philox", seeds, sampleShape);
    let x = toModelLayout(noise, layout);
    noise.dispose();
    const tokens = layout.kind === "packed" ? layout.modelShape[1]! : 0;
    const timesteps = info.family === "flux"
      ? scheduler.timesteps(steps, { sigmas: Array.from({ length: steps }, (_, i) => 1 - i / steps), mu: fluxMu(tokens) })
      : scheduler.timesteps(steps);
    const sigmas = scheduler.sigmas;
    const depth = Number(model.config.depth);
    const guidanceSteps: GuidanceStep[] = Array.from(timesteps, (t, i) => ({
      index: i, total: timesteps.length, sigma: sigmas?.[i] ?? Number.NaN, t: Math.fround(t * timestepScale), depth,
    }));
    checkLatentGuider(guider, guidanceSteps);
    if (scheduler.initNoiseSigma !== 1) {
      const scaled = x.scale(scheduler.initNoiseSigma);
      x.dispose();
      x = scaled;
    }
    const latentChannels = layout.modelShape[layout.kind === "packed" ? 2 : 1]!;
    const runner = new GuidedStepRunner(model);
    try {
      for (let i = 0; i < timesteps.length; i++) {
        if (options.signal?.aborted) throw abortError("The operation was aborted", options.signal.reason);
        const t = timesteps[i]!;
        const step = guidanceSteps[i]!;
        const input = scheduler.scaleModelInput(x, t);
        let out: Tensor;
        try {
          ({ velocity: out } = await runner.run(guider.branches(step), guider.combination(step), step, input, inputs, options.signal));
        } finally {
          if (input !== x) input.dispose();
        }
        const prediction = layout.kind !== "packed" && out.shape[1]! > latentChannels ? firstChannels(out, latentChannels) : out;
        const next = scheduler.step(prediction, t, x);
        if (prediction !== out) prediction.dispose();
        out.dispose();
        x.dispose();
        x = next;
        options.onStep?.({ step: i + 1, steps: timesteps.length, t });
      }
    } catch (e) {
      x.dispose();
      throw e;
    } finally {
      runner.dispose();
    }
    const latents = fromModelLayout(x, layout);
    if (latents !== x) x.dispose();
    if (!vae) return { latents };
    if (layout.kind === "video") {
      const frames = await vae.decodeVideo(latents, { signal: options.signal, onProgress: options.onFrame });
      return { latents, frames };
    }
    return { latents, images: await vae.decodeImages(latents, { signal: options.signal }) };
  }

  /** Releases the model and the VAE the pipeline loaded (idempotent). */
  dispose(): void {
    if (this.#ownsModel) this.#model?.dispose();
    if (this.#ownsVae) this.#vae?.dispose();
    this.#model = undefined;
    this.#vae = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** As dispose(), so `await using` works on either kind of Pipeline.load's result. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  /** The unconditional branch's input: options.negative checked against the positive conditions, or DiT's null
   * class; undefined when there is none (a method that needs it was refused by latentGuidance). */
  #negative(info: ModelInfo, given: LatentConditions | undefined, positive: Labels | ModelConditions, batch: number, layout: Layout): BranchInput | undefined {
    if (info.conditions.every((c) => c.name === "labels")) {
      if (given === undefined) return { labels: new Int32Array(batch).fill(Number(this.model.config.numClasses)) };
      return branchInput(this.#conditions(info, given, batch, layout, "options.negative"));
    }
    if (given === undefined) return undefined;
    const negative = this.#conditions(info, given, batch, layout, "options.negative") as ModelConditions;
    checkNegative(positive as ModelConditions, negative);
    return branchInput(negative);
  }

  #conditions(info: ModelInfo, given: LatentConditions | undefined, batch: number, layout: Layout, field: string, embeddedScale?: number): Labels | ModelConditions {
    if (info.conditions.every((c) => c.name === "labels")) {
      const numClasses = Number(this.model.config.numClasses);
      if (given === undefined) return new Int32Array(batch).fill(numClasses); // the null class: unconditional
      if (!(given instanceof Int32Array) && !Array.isArray(given)) throw typeError("labels (Int32Array or number[])", field, given);
      return given;
    }
    if (given === undefined || given === null || typeof given !== "object" || Array.isArray(given) || given instanceof Int32Array) {
      throw typeError(`an object of condition tensors (${info.conditions.map((c) => c.name).join(", ")})`, field, given);
    }
    const out: ModelConditions = { ...given };
    // Flux's position ids depend only on the sizes: text tokens at 0, image tokens at (0, row, col) of the packed grid.
    const named = new Map(info.conditions.map((c) => [c.name, c]));
    const text = out.encoderHiddenStates instanceof Tensor ? out.encoderHiddenStates : undefined;
    if (named.has("txtIds") && out.txtIds === undefined && text) out.txtIds = idsTensor(named.get("txtIds")!, batch, text.shape[1]!, () => [0, 0, 0]);
    if (named.has("imgIds") && out.imgIds === undefined && layout.kind === "packed") {
      const w2 = layout.shape[3]! / 2;
      out.imgIds = idsTensor(named.get("imgIds")!, batch, layout.modelShape[1]!, (k) => [0, Math.floor(k / w2), k % w2]);
    }
    // Flux-dev's distilled guidance: options.guidanceScale, else diffusers' default 3.5 when the caller gave none.
    const guidance = named.get("guidance");
    if (embeddedScale !== undefined && out.guidance !== undefined) throw new RangeError("Expected options.guidanceScale or options.conditions.guidance, not both (both set Flux's guidance embedding)");
    if (guidance && (embeddedScale !== undefined || (!guidance.optional && out.guidance === undefined))) {
      out.guidance = Tensor.from(new Float32Array(batch).fill(embeddedScale ?? 3.5), [batch]);
    }
    return out;
  }
}

/** A branch's input from checked conditions: labels, or the condition tensors by name. */
function branchInput(conditions: Labels | ModelConditions): BranchInput {
  if (conditions instanceof Int32Array || Array.isArray(conditions)) return { labels: Int32Array.from(conditions as readonly number[]) };
  const tensors: Record<string, Tensor> = {};
  for (const [name, value] of Object.entries(conditions)) if (value instanceof Tensor) tensors[name] = value;
  return { conditions: tensors };
}

function conditionBatch(conditions: LatentConditions | undefined): number | undefined {
  if (conditions === undefined || conditions === null) return undefined;
  if (Array.isArray(conditions) || conditions instanceof Int32Array) return conditions.length;
  for (const value of Object.values(conditions)) if (value instanceof Tensor && value.shape.length >= 2) return value.shape[0];
  return undefined;
}

/** [tokens, 3] or [B, tokens, 3] ids (as the spec's rank says) from a per-token triple. */
function idsTensor(spec: InfoSpec, batch: number, tokens: number, triple: (k: number) => number[]): Tensor {
  const one = new Float32Array(tokens * 3);
  for (let k = 0; k < tokens; k++) one.set(triple(k), 3 * k);
  if (spec.shape.length === 2) return Tensor.from(one, [tokens, 3]);
  const all = new Float32Array(batch * tokens * 3);
  for (let b = 0; b < batch; b++) all.set(one, b * tokens * 3);
  return Tensor.from(all, [batch, tokens, 3]);
}

/** The first `channels` channels of [B, C', ...] (a learned-σ output's ε half). */
function firstChannels(x: Tensor, channels: number): Tensor {
  const shape = x.shape;
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  const values = x.toFloat32Array();
  const out = new Float32Array(shape[0]! * channels * inner);
  for (let b = 0; b < shape[0]!; b++) out.set(values.subarray(b * shape[1]! * inner, (b * shape[1]! + channels) * inner), b * channels * inner);
  return Tensor.from(out, [shape[0]!, channels, ...shape.slice(2)]);
}

/** Calls visit(imageIndex, packedIndex) for every element of a packed layout: diffusers' Flux _pack_latents maps
 *  [B, C, h, w] to [B, (h/2)(w/2), 4C], token (row, col), channel (c, dy, dx). */
function forEachPacked(layout: Layout, visit: (image: number, packed: number) => void): void {
  const [b, c, h, w] = layout.shape as [number, number, number, number];
  for (let n = 0; n < b; n++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++) {
          const token = (y >> 1) * (w / 2) + (xx >> 1);
          const channel = ch * 4 + (y & 1) * 2 + (xx & 1);
          visit(((n * c + ch) * h + y) * w + xx, (n * (h / 2) * (w / 2) + token) * 4 * c + channel);
        }
}

/** [B, C, h, w] → the model's layout (packed for Flux, a copy otherwise). */
function toModelLayout(x: Tensor, layout: Layout): Tensor {
  if (layout.kind !== "packed") return x.clone();
  const src = x.toFloat32Array();
  const out = new Float32Array(src.length);
  forEachPacked(layout, (image, packed) => { out[packed] = src[image]!; });
  return Tensor.from(out, layout.modelShape);
}

/** Inverse of toModelLayout (diffusers' _unpack_latents). */
function fromModelLayout(x: Tensor, layout: Layout): Tensor {
  if (layout.kind !== "packed") return x;
  const src = x.toFloat32Array();
  const out = new Float32Array(src.length);
  forEachPacked(layout, (image, packed) => { out[image] = src[packed]!; });
  return Tensor.from(out, layout.shape);
}

/** @internal exported for tests: the packing round trip. */
export const _packing = { toModelLayout, fromModelLayout };

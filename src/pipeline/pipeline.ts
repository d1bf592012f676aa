// Pipeline: class-conditional image generation with a DiT (docs/pipeline.md). Loads a model, then runs the sampling loop:
// per step the Guider's branches (src/guidance/; CFG by default: conditional and unconditional halves in one 2B
// batch), their combination (CFG v = v_u + s·(v_c − v_u)) and the scheduler's update (default: the model's reference
// sampler, scheduler.ts). Where the update is a stateless linear form (scheduler.stepTerms; flow-match Euler) the
// whole step is ONE job on the model's thread (model.session(): the branches as the step's branches, the Guider's
// weights and the scheduler's coefficients as its epilogue, in combineBranches' and Tensor.combine's float order, so
// the bits are those of the separate calls); no O(batch) arithmetic runs on the JS thread. Multistep or non-linear
// schedulers, learned-σ outputs and inpainting take the separate calls: forward(s) per plan, combineBranches,
// scheduler.step (and the paste below). For inpainting the re-noised
// original pasted back outside the mask (RePaint-style replacement, Lugmayr et al. CVPR'22, as diffusers'
// inpaint pipelines do for flow models: keep = (1 − σ)·x0 + σ·ε at the next σ). img2img starts at σ = strength from
// (1 − σ)·x0 + σ·ε (SDEdit, Meng et al. ICLR'22). Noise: one Philox stream per sample seed, so a sample is identical
// alone or in a batch; it is generated natively off the JS thread, as is the final conversion to u8 images. Aborts
// reject within one step (between blocks) and leave the pipeline usable.
import { existsSync, statSync } from "node:fs";
import path from "node:path";

import { loadLowRankModel } from "../guidance/lowRank.js";
import { DittoError, abortError, disposedError, rangeError, typeError } from "../errors.js";
import { readFixtureInfo } from "../io/ditJson.js";
import { Image } from "../images/image.js";
import { loadModel, Model, type ModelDType } from "../model.js";
import { chooseDevice, type DeviceName, type DeviceSpec } from "../device.js";
import { combineBranches, isNonlinear, type GuidanceBranch, type GuidanceStep } from "../guidance/guider.js";
import { forwardCanRun, planForwardOptions, samePlan } from "../plan.js";
import { batchNoiseTensor } from "../noise/index.js";
import { Tensor } from "../tensor.js";
import type { Session } from "../session.js";
import { GuidedStepRunner, labelInputs, planActions } from "./guidedStep.js";
import { epilogueTerms, resolveScheduler } from "./scheduler.js";
import { broadcastToBatch, checkGenerateOptions, initImageValues, type GenerateOptions, type StepEvent } from "./options.js";
import { assertFiniteLatents } from "./numerics.js";
import { LatentPipeline, latentPaths } from "./latent.js";
import { Vae } from "../vae.js";
import { watchPeakMemory } from "../memory.js";
import { cacheBranch, tallyCache, type CacheTally } from "./cacheStep.js";
import type { CacheRun } from "../cache/run.js";

export type Device = DeviceSpec;

/** Which pipeline Pipeline.load gives: 'class-conditional' (this class: DiT labels, pixel or glyph space) or
 * 'latent' (LatentPipeline: text-conditioned families, or any family with a VAE). */
export type PipelineKind = "class-conditional" | "latent";

/** What Pipeline.load returns when the caller leaves the kind to the checkpoint; narrow on `kind`. */
export type AnyPipeline = Pipeline | LatentPipeline;

export interface PipelineLoadOptions {
  /** A checkpoint: a model folder (config + safetensors), a diffusers pipeline folder (transformer/ and vae/), a
   * .safetensors file, or an already loaded Model (the pipeline then does not own it). */
  model: string | Model;
  /** The pipeline the caller expects; Pipeline.load checks it against the checkpoint's family (RangeError when it
   * cannot be). Omitted: picked from the checkpoint (see Pipeline.load). */
  kind?: PipelineKind;
  /** The VAE of a latent pipeline: a folder or a loaded Vae (default: `<model>/vae` when that folder exists). */
  vae?: string | Vae;
  device?: Device;
  /** Weights' dtype: default the checkpoint's (bf16 stays bf16), 'f32' widens (loadModel). */
  dtype?: ModelDType;
  threads?: number;
}

/** Families with a latent sampler (src/pipeline/latent.ts); DiT has both pipelines. */
const LATENT_FAMILIES = new Set(["dit", "pixart", "sd3", "flux", "wan"]);

export interface GenerateStats {
  /** Network evaluations counted per sample (a 2B CFG batch of B samples is 2B forwards). */
  forwards: number;
  blocksComputed: number;
  blocksReused: number;
  macs: number;
  /** MACs the same run would take with every block computed. */
  macsUncached: number;
  /** Peak bytes of the cache's stored residuals during the run (0 without a cache). */
  cacheBytes: number;
  wallMs: number;
  /** The engine's peak native allocation during the run (its own count of every engine block in the process:
   * weights, workspaces, slots, tensors; src/memory.ts), not sampled RSS. */
  peakBytes: number;
}

export interface GenerateResult {
  images: Image[];
  /** Final model-space samples [N, C, H, W] (before quantisation). */
  latents: Tensor;
  stats: GenerateStats;
}

export interface RecommendedSettings {
  steps: number;
  guidanceScale: number;
}

const FALLBACK_RECOMMENDED: RecommendedSettings = { steps: 50, guidanceScale: 4 };

function configDir(model: Model, given: string | undefined): string | undefined {
  if (given && existsSync(given)) return statSync(given).isDirectory() ? given : path.dirname(given);
  const configPath = model.config.configPath;
  return typeof configPath === "string" ? path.dirname(configPath) : undefined;
}

/** The sampler settings a model folder's dit.json recommends (steps 50, CFG 4 where it says nothing). */
export function recommendedSettings(dir: string | undefined): RecommendedSettings {
  if (!dir || !existsSync(path.join(dir, "dit.json"))) return FALLBACK_RECOMMENDED;
  const fixture = readFixtureInfo(dir);
  return {
    steps: fixture.recommendedSteps ?? FALLBACK_RECOMMENDED.steps,
    guidanceScale: fixture.recommendedCfg ?? FALLBACK_RECOMMENDED.guidanceScale,
  };
}

export class Pipeline implements AsyncDisposable {
  /** Discriminates Pipeline.load's result (LatentPipeline's kind is 'latent'). */
  readonly kind = "class-conditional" as const;
  /** The checkpoint's family (model.info.family: 'dit'). */
  readonly family: string;
  #model: Model | undefined;
  readonly #ownsModel: boolean;
  /** The device the model actually runs on (Model.device). */
  readonly device: DeviceName;
  readonly recommended: RecommendedSettings;
  readonly nullLabel: number;
  /** Models derived from this one for guidance branches (autoguidance's low-rank weak copy), by spec; see #derived. */
  readonly #derivedModels = new Map<string, Promise<Model>>();
  readonly #derivedBranches = new WeakMap<GuidanceBranch, GuidanceBranch>();

  private constructor(model: Model, ownsModel: boolean, recommended: RecommendedSettings) {
    this.#model = model;
    this.#ownsModel = ownsModel;
    this.device = model.device;
    this.family = model.info.family;
    this.recommended = recommended;
    this.nullLabel = model.config.numClasses;
  }

  /**
   * The one entry point for every checkpoint: loads the model, reads its family from the tensor names (loadModel)
   * and gives the pipeline that family runs with. DiT (class labels) → this Pipeline, unless a VAE is given or
   * `<model>/vae` exists (then the latent pipeline, as `ditto generate`); PixArt, SD3, Flux and Wan → LatentPipeline
   * with its VAE when present (latents only without one); a checkpoint no family recognises rejects with DittoError
   * ERR_UNSUPPORTED_MODEL naming the tensors. `kind` states what the caller expects, typing the result; a
   * checkpoint that cannot give it rejects with a RangeError naming its family.
   */
  static load(options: PipelineLoadOptions & { kind: "class-conditional" }): Promise<Pipeline>;
  static load(options: PipelineLoadOptions & { kind: "latent" }): Promise<LatentPipeline>;
  static load(options: PipelineLoadOptions): Promise<AnyPipeline>;
  static async load(options: PipelineLoadOptions): Promise<AnyPipeline> {
    if (options === null || typeof options !== "object") throw typeError("object", "options", options);
    const { model, kind, vae, device = "auto", dtype, threads } = options;
    if (kind !== undefined && kind !== "class-conditional" && kind !== "latent") throw typeError("'class-conditional' or 'latent'", "options.kind", kind);
    if (vae !== undefined && typeof vae !== "string" && !(vae instanceof Vae)) throw typeError("VAE folder path or Vae", "options.vae", vae);
    if (kind === "class-conditional" && vae !== undefined) throw rangeError("no VAE (a class-conditional pipeline has none)", "options.vae", vae);
    // Throws TypeError for a malformed spec and ERR_CUDA (saying why) for a CUDA request that cannot be honoured.
    chooseDevice(device);
    let loaded: Model;
    let latentVae: string | Vae | undefined = vae;
    if (model instanceof Model) loaded = model;
    else if (typeof model === "string" && model.length > 0) {
      const paths = latentPaths(model);
      latentVae ??= paths.vae;
      loaded = await loadModel(paths.model, { threads, dtype, device });
    } else throw typeError("model path or Model", "model", model);
    const owns = typeof model === "string";
    const family = loaded.info.family;
    const classConditional = loaded.info.conditions.every((c) => c.name === "labels");
    const chosen: PipelineKind = kind ?? (classConditional && latentVae === undefined ? "class-conditional" : "latent");
    try {
      if (!LATENT_FAMILIES.has(family)) throw new DittoError("ERR_UNSUPPORTED_MODEL", `No pipeline runs the ${family} family (supported: ${[...LATENT_FAMILIES].join(", ")})`);
      if (chosen === "class-conditional" && !classConditional) throw new RangeError(`Expected a class-conditional checkpoint (dit) for options.kind 'class-conditional' but received a ${family} checkpoint`);
    } catch (e) {
      if (owns) loaded.dispose();
      throw e;
    }
    if (chosen === "latent") return LatentPipeline.withModel(loaded, owns, latentVae, { threads, dtype });
    const recommended = recommendedSettings(configDir(loaded, typeof model === "string" ? model : undefined));
    return new Pipeline(loaded, owns, Object.freeze(recommended));
  }

  get model(): Model {
    if (!this.#model) throw disposedError("Pipeline");
    return this.#model;
  }

  async generate(options: GenerateOptions): Promise<GenerateResult> {
    const model = this.model;
    const config = model.config;
    const checked = checkGenerateOptions(options, { ...this.recommended, numClasses: config.numClasses });
    const { labels, steps, seeds, noise, strength } = checked;
    const { signal, onStep } = options;
    const batch = labels.length;
    const channels = config.inChannels, size = config.inputSize;
    const sampleShape = [batch, channels, size, size];
    const macsPerSample = model.macsPerSample();
    const depth = config.depth;
    const { guider } = checked;

    const scheduler = resolveScheduler(options.scheduler);
    const allTimesteps = Array.from(scheduler.timesteps(steps));
    if (scheduler.sigmas === null || scheduler.sigmas.length !== allTimesteps.length + 1) {
      throw rangeError(`a scheduler with ${allTimesteps.length + 1} sigmas after timesteps(${steps}) (a flow-matching grid)`, "scheduler", options.scheduler);
    }
    const allSigmas = Array.from(scheduler.sigmas);
    // img2img: skip the first (1 − strength) share of the schedule (diffusers: init_timestep = int(steps·strength)).
    const runSteps = Math.min(steps, Math.max(1, Math.floor(steps * strength)));
    const first = steps - runSteps;

    const start = performance.now();
    const endPeakWatch = watchPeakMemory();
    const owned: Tensor[] = []; // tensors to release when the generation ends, successful or not
    const keep = <T extends Tensor>(t: T): T => { owned.push(t); return t; };
    let forwards = 0, blocksComputed = 0, macs = 0;
    const tally: CacheTally = { blocksComputed: 0, blocksReused: 0, macs: 0, cacheBytes: 0 };
    let cacheRun: CacheRun | undefined;
    let x: Tensor | undefined;
    let session: Session | undefined;
    let runner: GuidedStepRunner | undefined;
    let cacheBranches = 0;
    try {
      if (signal?.aborted) throw abortError("The operation was aborted", signal.reason);
      let eps = keep(await batchNoiseTensor(noise, seeds, [channels, size, size]));
      let x0: Tensor | undefined;
      let mask: Tensor | undefined;
      if (options.initImage !== undefined) {
        const init = initImageValues(options.initImage);
        x0 = keep(Tensor.from(broadcastToBatch(init.values, init.shape, batch, channels, size, size, "initImage"), sampleShape));
      }
      if (options.mask !== undefined) mask = keep(Tensor.from(maskValues(options.mask, batch, channels, size), sampleShape));
      const sigmaStart = allSigmas[first]!;
      x = x0 && first > 0 ? Tensor.combine([[Math.fround(1 - sigmaStart), x0], [sigmaStart, eps]]) : eps.clone();
      if (model.device !== "cpu") {
        // On a GPU the latents stay on the device from here to the end: this upload and the one download below are
        // the only copies (docs/cuda.md, "Device tensors"); inpainting's known region goes up once too.
        const host = x;
        x = model.toDevice(host);
        host.dispose();
        if (mask) {
          mask = keep(model.toDevice(mask));
          if (x0) x0 = keep(model.toDevice(x0));
          eps = keep(model.toDevice(eps));
        }
      }

      const nullLabels = new Int32Array(batch).fill(this.nullLabel);
      // The epilogue combines outputs shaped like x (not a learned-σ model's 2C channels).
      const fusable = config.outChannels === channels;
      // Branches on this pipeline's model (the rest run on a second model, e.g. autoguidance's weak network).
      const onModel = (b: GuidanceBranch) => b.model === undefined || b.model === model;

      for (let i = first; i < steps; i++) {
        if (signal?.aborted) throw abortError("The operation was aborted", signal.reason);
        const stepStart = performance.now();
        const t = allTimesteps[i]!;
        const step: GuidanceStep = { index: i - first, total: runSteps, sigma: allSigmas[i]!, t, depth };
        const branches = await this.#withDerivedModels(guider.branches(step));
        const combination = guider.combination(step);
        // One job per step when the scheduler's update is a stateless linear form and nothing follows it on the JS
        // side (inpainting pastes the known region after each step): the branches, their combination and the update
        // all run on the model's thread. Otherwise today's path: forward(s), combineBranches, scheduler.step.
        const terms = mask ? null : fusable ? epilogueTerms(scheduler, t) : null;
        let outputs: Tensor[] | undefined;
        let velocity: Tensor | undefined;
        let nonFinite: number | undefined; // counted by the step job (the one-job path)
        // Guidance the epilogue cannot finish (src/pipeline/guidedStep.ts): a non-linear combination, a branch on a
        // second model, or a perturbed-attention plan without a fused step (forwardDetailed has no such option).
        const guidedInJs = isNonlinear(combination) || branches.some((b) => b.model !== undefined) || (!terms && !branches.every((b) => forwardCanRun(b.plan)));
        if (i === first && checked.cache.kind !== "none") {
          if (!terms) throw rangeError("a flow-match Euler step without inpainting (the one-job step) for a cache policy", "scheduler", options.scheduler);
          // A non-linear combination runs on the JS side after the branches, which take their plans from the cache
          // policy as on the one-job step. A branch on a second model (autoguidance's weak network) has no cache
          // state: it computes every block at every step, and the policy plans the pipeline model's branches only.
          if (branches.length === 0) throw new RangeError(`Expected guidance branches at every step for a cache policy but received none at the first step of ${guider.kind}`);
          cacheBranches = branches.filter(onModel).length;
          if (cacheBranches === 0) throw new RangeError(`Expected a guidance branch on the pipeline's model for a cache policy but received only second-model branches from ${guider.kind}`);
          cacheRun = checked.cache.start({ depth, batch, branches: cacheBranches, total: runSteps });
        }
        const onModelCount = cacheRun ? branches.filter(onModel).length : 0;
        if (cacheRun && onModelCount !== cacheBranches) {
          throw new RangeError(`Expected the same number of guidance branches at every step for a cache policy but received ${onModelCount} at step ${i - first} (${cacheBranches} at the first)`);
        }
        const cacheStep = { index: i - first, total: runSteps, sigma: allSigmas[i]! };
        if (guidedInJs) {
          // The runner shares the one-job path's session: a cache policy's state must survive steps that switch paths.
          session ??= model.session();
          runner ??= new GuidedStepRunner(model, session);
          const ran = await runner.run(branches, combination, step, x, labelInputs(labels, nullLabels), signal,
            cacheRun ? { run: cacheRun, step: cacheStep, ...(checked.cacheBudgetBytes !== undefined ? { budgetBytes: checked.cacheBudgetBytes } : {}) } : undefined);
          velocity = ran.velocity;
          if (cacheRun) {
            tallyCache(cacheRun, cacheStep, ran.cache!, tally);
            // Second-model branches ran uncached: their MACs and blocks count in full.
            tally.macs += ran.macs - ran.cache!.macs;
            for (const b of branches) if (!onModel(b)) tally.blocksComputed += batch * b.model!.config.depth;
          }
        } else if (terms) {
          session ??= model.session();
          const state = scheduler.state ?? [];
          const result = await session.step(x, new Float32Array(batch).fill(t), {
            branches: branches.map((b, k) => ({
              key: b.name,
              labels: b.condition === "null" ? nullLabels : labels,
              ...(cacheRun ? cacheBranch(cacheRun, cacheStep, k, b.plan) : planActions(b.plan, depth)),
            })),
            ...(checked.cacheBudgetBytes !== undefined ? { cacheBudgetBytes: checked.cacheBudgetBytes } : {}),
            epilogue: {
              branchWeights: combination.weights,
              anchor: combination.anchor,
              a: terms.next.sample,
              c: terms.next.modelOutput,
              extras: state,
              extraWeights: terms.next.state,
            },
            returnBranchOutputs: false,
            countNonFinite: true,
            signal,
          });
          nonFinite = result.nextNonFinite;
          result.guided?.dispose();
          if (cacheRun) tallyCache(cacheRun, cacheStep, result, tally);
          scheduler.advance!(t);
          x.dispose();
          x = result.next!;
        } else {
          outputs = await runBranches(model, branches, x, t, labels, nullLabels, signal);
        }
        let stepBlocks = 0;
        for (const branch of branches) {
          const skipped = Object.values(branch.plan.blocks).filter((a) => a.kind === "skip").length;
          stepBlocks += batch * (depth - skipped);
          macs += batch * (macsPerSample.total - (skipped * macsPerSample.blocks) / depth);
        }
        forwards += batch * branches.length;
        blocksComputed += stepBlocks;
        if (outputs && !isNonlinear(combination)) {
          try {
            velocity = combineBranches(combination, outputs);
          } finally {
            for (const output of outputs) if (output !== velocity) output.dispose();
          }
        }
        if (velocity) {
          const next = scheduler.step(velocity, t, x);
          velocity.dispose();
          x.dispose();
          x = next;
        }
        if (mask && x0) {
          // Paste the original, noised to the next level, outside the mask: x = keep + mask·(x − keep).
          const sigmaNext = allSigmas[i + 1]!;
          const known = Tensor.combine([[Math.fround(1 - sigmaNext), x0], [sigmaNext, eps]]);
          const diff = x.sub(known), masked = mask.mul(diff), blended = known.add(masked);
          for (const tensor of [known, diff, masked, x]) tensor.dispose();
          x = blended;
        }
        assertFiniteLatents(x, i - first + 1, runSteps, nonFinite);
        onStep?.({
          step: i - first + 1,
          total: runSteps,
          sigma: allSigmas[i]!,
          computedBlocks: cacheRun ? tally.stepComputed! : stepBlocks,
          reusedBlocks: cacheRun ? tally.stepReused! : 0,
          ms: performance.now() - stepStart,
        });
      }
      let latents = x;
      x = undefined;
      if (latents.device !== "cpu") {
        // The generation's one copy back to the host.
        const device = latents;
        try {
          latents = Tensor.from(device.toFloat32Array(), device.shape);
        } finally {
          device.dispose();
        }
      }
      let images: Image[];
      try {
        images = await Image.fromTensor(latents);
      } catch (e) {
        latents.dispose();
        throw e;
      }
      return {
        images,
        latents,
        stats: {
          forwards,
          blocksComputed: cacheRun ? tally.blocksComputed : blocksComputed,
          blocksReused: tally.blocksReused,
          macs: cacheRun ? tally.macs : macs,
          macsUncached: forwards * macsPerSample.total,
          cacheBytes: tally.cacheBytes,
          wallMs: performance.now() - start,
          peakBytes: endPeakWatch(),
        },
      };
    } finally {
      // Frees the session's native state once its queued work is done (also after an abort or a failed step).
      session?.dispose();
      runner?.dispose();
      x?.dispose();
      for (const tensor of owned) tensor.dispose();
      endPeakWatch();
    }
  }

  /**
   * The branches with every `derive` branch bound to its derived model (the same branch object each time, so plans
   * and batching stay stable). A derived model is built on first use (src/guidance/lowRank.ts: natively, off the JS
   * thread; ~0.2 s for the glyph DiT) and kept until the pipeline is disposed.
   */
  async #withDerivedModels(branches: readonly GuidanceBranch[]): Promise<readonly GuidanceBranch[]> {
    if (!branches.some((b) => b.derive !== undefined && b.model === undefined)) return branches;
    const out: GuidanceBranch[] = [];
    for (const b of branches) {
      if (b.derive === undefined || b.model !== undefined) { out.push(b); continue; }
      let bound = this.#derivedBranches.get(b);
      if (!bound) {
        const key = JSON.stringify(b.derive);
        let model = this.#derivedModels.get(key);
        if (!model) {
          // Shared by concurrent generations, so not tied to one generation's signal (each checks its own after it).
          model = loadLowRankModel(this.model, b.derive.rankFraction, { threads: this.model.threads });
          this.#derivedModels.set(key, model);
          model.catch(() => this.#derivedModels.delete(key));
        }
        bound = Object.freeze({ ...b, model: await model });
        this.#derivedBranches.set(b, bound);
      }
      out.push(bound);
    }
    return out;
  }

  /** Releases the model if this pipeline loaded it, and the models derived from it (idempotent); later generate()
   * calls throw ERR_DISPOSED. */
  async dispose(): Promise<void> {
    if (this.#model && this.#ownsModel) this.#model.dispose();
    this.#model = undefined;
    const derived = [...this.#derivedModels.values()];
    this.#derivedModels.clear();
    for (const m of await Promise.allSettled(derived)) if (m.status === "fulfilled") m.value.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/**
 * One forward per run of consecutive branches with the same block plan (CFG: one 2B forward, conditional half
 * first), each branch's input x with its condition's labels; returns one output per branch (a batch of one
 * branch is the forward's output itself, otherwise copied slices). The caller disposes the outputs.
 */
async function runBranches(
  model: Model, branches: readonly GuidanceBranch[], x: Tensor, t: number, labels: Int32Array, nullLabels: Int32Array,
  signal: AbortSignal | undefined,
): Promise<Tensor[]> {
  const batch = labels.length;
  const outputs: Tensor[] = [];
  try {
    for (let start = 0; start < branches.length;) {
      let end = start + 1;
      while (end < branches.length && samePlan(branches[end]!.plan, branches[start]!.plan)) end++;
      const group = branches.slice(start, end);
      const input = group.length === 1 ? x : Tensor.concat(group.map(() => x));
      const groupLabels = new Int32Array(batch * group.length);
      group.forEach((b, k) => groupLabels.set(b.condition === "null" ? nullLabels : labels, k * batch));
      let out: Tensor;
      try {
        ({ out } = await model.forwardDetailed(input, new Float32Array(groupLabels.length).fill(t), groupLabels, { ...planForwardOptions(group[0]!.plan), signal }));
      } finally {
        if (input !== x) input.dispose();
      }
      if (group.length === 1) outputs.push(out);
      else {
        try {
          for (let k = 0; k < group.length; k++) outputs.push(out.slice(k * batch, (k + 1) * batch));
        } finally {
          out.dispose();
        }
      }
      start = end;
    }
    return outputs;
  } catch (e) {
    for (const output of outputs) output.dispose();
    throw e;
  }
}

function maskValues(mask: Tensor | Float32Array, batch: number, channels: number, size: number): Float32Array {
  let values: Float32Array, shape: number[];
  if (mask instanceof Tensor) { values = mask.toFloat32Array(); shape = mask.shape; }
  else if (mask instanceof Float32Array) { values = mask; shape = [size, size]; if (mask.length !== size * size) throw rangeError(`${size * size} values (${size}×${size})`, "mask", mask); }
  else throw typeError("Tensor or Float32Array", "mask", mask);
  const bad = values.findIndex((v) => !(v >= 0 && v <= 1));
  if (bad >= 0) throw rangeError("values between 0 and 1", `mask[${bad}]`, values[bad]);
  return broadcastToBatch(values, shape, batch, channels, size, size, "mask");
}

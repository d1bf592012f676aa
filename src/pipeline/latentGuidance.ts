// Guidance for the latent pipeline (docs/models.md, "Classifier-free guidance"): which Guider (src/guidance/) a
// LatentPipeline.generate call runs and which conditions feed its unconditional branch. Classifier-free guidance as
// each family's diffusers pipeline does it (Ho & Salimans 2022; StableDiffusion3Pipeline, PixArtAlphaPipeline,
// WanPipeline: noise_pred = uncond + guidance_scale·(cond − uncond), the negative / empty prompt's embeddings as the
// unconditional input; PixArt combines the whole learned-σ output, then keeps its ε half). Flux-dev is
// guidance-distilled (FluxPipeline: no second branch, `guidance_scale` goes into the model's guidance embedding), so
// for Flux guidanceScale sets that input and a negative branch is refused. The step itself is the class-label
// pipeline's guided step (src/pipeline/guidedStep.ts): one session step per sampling step, both branches batched.
import { rangeError, typeError } from "../errors.js";
import { ClassifierFreeGuidance } from "../guidance/cfg.js";
import type { GuidanceStep, Guider } from "../guidance/guider.js";
import { GuidanceInterval } from "../guidance/interval.js";
import { guiderFrom } from "../guidance/policy.js";
import type { ModelInfo } from "../modelInputs.js";
import type { PolicySpec } from "../policySpec.js";
import { Tensor } from "../tensor.js";

export interface LatentGuidanceOptions {
  guidanceScale?: number;
  guidance?: Guider | PolicySpec | string;
  negative?: unknown;
}

export interface LatentGuidance {
  /** The method the loop runs (CFG at scale 1 = the conditional model alone when unguided). */
  guider: Guider;
  /** Flux-dev: the guidance embedding's value (options.guidanceScale), undefined otherwise. */
  embeddedScale?: number;
}

const UNGUIDED = new ClassifierFreeGuidance({ scale: 1 });

/**
 * The Guider of a latent generation. `flow`: the family's model predicts a flow velocity (SD3, Flux, Wan, the glyph
 * DiT) rather than ε (PixArt, learned-σ DiT); methods other than plain CFG work on velocities and flow σ.
 */
export function latentGuidance(info: ModelInfo, options: LatentGuidanceOptions, flow: boolean): LatentGuidance {
  const { guidanceScale, guidance, negative } = options;
  if (guidanceScale !== undefined) {
    if (typeof guidanceScale !== "number" || !Number.isFinite(guidanceScale)) throw typeError("finite number", "options.guidanceScale", guidanceScale);
    if (guidanceScale < 0) throw rangeError("finite number >= 0", "options.guidanceScale", guidanceScale);
  }
  if (guidanceScale !== undefined && guidance !== undefined) {
    throw new RangeError("Expected options.guidanceScale or options.guidance, not both (a method's CFG scale is its own parameter, e.g. cfgScale)");
  }
  const family = info.family;
  if (family === "flux") {
    const embedded = info.conditions.some((c) => c.name === "guidance");
    if (negative !== undefined) throw new RangeError("The flux model takes no options.negative: Flux-dev is guidance-distilled (options.guidanceScale sets its guidance embedding); true CFG with a negative prompt is not supported");
    if (guidance !== undefined) throw new RangeError("The flux model takes no options.guidance: Flux-dev is guidance-distilled (options.guidanceScale sets its guidance embedding)");
    if (guidanceScale !== undefined && !embedded) throw new RangeError("The flux model has no guidance embedding (guidance_embeds false, e.g. Flux-schnell): options.guidanceScale does not apply");
    return { guider: UNGUIDED, embeddedScale: guidanceScale };
  }
  const guided = guidanceScale !== undefined || guidance !== undefined;
  const labelModel = info.conditions.every((c) => c.name === "labels");
  if (!guided) {
    if (negative !== undefined) throw new RangeError("Expected options.guidanceScale or options.guidance with options.negative (the unconditional branch of classifier-free guidance)");
    return { guider: UNGUIDED };
  }
  if (negative === undefined && !labelModel) {
    const names = info.conditions.filter((c) => !c.optional).map((c) => c.name).join(", ");
    throw new TypeError(`Expected an object of negative condition tensors (${names}: the unconditional branch, e.g. the empty prompt's embeddings) for options.negative with ${guidanceScale !== undefined ? "options.guidanceScale" : "options.guidance"} but received undefined`);
  }
  const guider = guidance !== undefined ? guiderFrom(guidance) : new ClassifierFreeGuidance({ scale: guidanceScale! });
  // Plain CFG only on ε families: the interval's σ and APG / CFG-Zero*'s velocities are flow quantities.
  if (!flow && !(guider instanceof ClassifierFreeGuidance)) {
    throw new RangeError(`Guidance method "${guider instanceof GuidanceInterval ? "interval" : guider.kind}" does not apply to the ${family} latent pipeline: the model predicts ε, the method works on flow velocities and σ (use cfg)`);
  }
  return { guider };
}

/** Refuses, before the first step, a method whose branches at some step change blocks or run a second model. */
export function checkLatentGuider(guider: Guider, steps: readonly GuidanceStep[]): void {
  if (guider === UNGUIDED) return;
  for (const step of steps) {
    for (const branch of guider.branches(step)) {
      if (branch.model !== undefined || branch.derive !== undefined || Object.keys(branch.plan.blocks).length > 0) {
        const what = branch.model || branch.derive ? "runs a second model" : "changes blocks";
        throw new RangeError(`Guidance method "${guider.kind}" is not supported by the latent pipeline: its branch "${branch.name}" ${what} (supported: methods whose branches are the conditional and unconditional model, e.g. cfg, interval, apg, cfgZeroStar)`);
      }
    }
  }
}

/** Refuses negative conditions that do not match the positive ones name for name and shape for shape. */
export function checkNegative(positive: Readonly<Record<string, unknown>>, negative: Readonly<Record<string, unknown>>): void {
  const names = Object.keys(positive).filter((k) => positive[k] instanceof Tensor);
  for (const name of Object.keys(negative)) {
    if (negative[name] !== undefined && !names.includes(name)) {
      throw new TypeError(`Unknown condition "${name}" in options.negative: options.conditions holds ${names.join(", ")} (the negative conditions take the same names)`);
    }
  }
  for (const name of names) {
    const want = (positive[name] as Tensor).shape;
    const got = negative[name];
    if (!(got instanceof Tensor)) throw typeError(`Tensor [${want.join(", ")}] (as options.conditions.${name})`, `options.negative.${name}`, got);
    if (got.shape.length !== want.length || !got.shape.every((d, i) => d === want[i])) {
      throw new RangeError(`Expected shape [${want.join(", ")}] (as options.conditions.${name}) for options.negative.${name} but received [${got.shape.join(", ")}]`);
    }
  }
}

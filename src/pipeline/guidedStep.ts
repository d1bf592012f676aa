// The step path for guidance the native epilogue cannot finish (docs/guidance.md, "One loop"): a non-linear
// combination (APG, CFG-Zero*, a refreshed weak term), a branch on a second model (autoguidance's weak network) or
// a perturbed-attention plan under a scheduler without stepTerms. The branches still run as session steps — one job
// per model per step, so equal plans batch and shared prefixes are computed once — with their outputs returned;
// then the combination (combineBranches' float order when linear, the method's function otherwise — its Tensor form
// when the latents are on a GPU and the method has one) gives the model output that the scheduler steps with.
// Sessions live for one generation (dispose() frees them, and Tensors a method kept in its memory). The latent
// pipeline (latent.ts) runs every step here: a branch's condition picks its inputs — the class labels / null labels
// of a DiT, or the positive / negative condition tensors of a text family (`BranchInputs`). With a cache policy
// (docs/caching.md) the pipeline's model's branches take their per-block actions from the policy's CacheRun
// (src/pipeline/cacheStep.ts), exactly as on the one-job step, and the step's cache signals and counters come back
// for the pipeline to observe; a branch on a second model has no cache state: it computes every block, uncached.
import type { CacheRun, CacheStep } from "../cache/run.js";
import type { Model } from "../model.js";
import { combineBranches, isNonlinear, type GuidanceBranch, type GuidanceCombination, type GuidanceStep, type NonlinearCombination } from "../guidance/guider.js";
import type { BlockPlan } from "../plan.js";
import type { Session, SessionBlockAction } from "../session.js";
import { Tensor } from "../tensor.js";
import { cacheBranch } from "./cacheStep.js";

/** The cache policy's part of a step on this path: whose plan the main model's branches follow. */
export interface GuidedStepCache {
  readonly run: CacheRun;
  readonly step: CacheStep;
  readonly budgetBytes?: number;
}

/** What the main model's session step reported (for CacheRun.observe and the pipeline's cache tally). */
export type GuidedStepCacheResult = Pick<Awaited<ReturnType<Session["step"]>>, "signals" | "cacheHits" | "blocksComputed" | "blocksReused" | "macs" | "slotBytes">;

/** What a branch of each condition feeds the model: labels (label-conditioned models) or condition tensors. */
export type BranchInput = { labels: Int32Array } | { conditions: Readonly<Record<string, Tensor>> };

/** The inputs of the branches by their condition: "class" (the sample's own) and "null" (unconditional). */
export interface BranchInputs {
  readonly class: BranchInput;
  /** Undefined where no unconditional input exists (a branch that needs it is refused). */
  readonly null: BranchInput | undefined;
}

/** The class-label pipeline's inputs: the labels and the null labels. */
export function labelInputs(labels: Int32Array, nullLabels: Int32Array): BranchInputs {
  return { class: { labels }, null: { labels: nullLabels } };
}

export interface BranchRunOutput {
  /** The combined model output (the caller disposes it). */
  velocity: Tensor;
  /** MACs that ran (from the sessions' counters: shared prefixes counted once). */
  macs: number;
  /** With a cache policy: the main model's step result. */
  cache?: GuidedStepCacheResult;
}

export class GuidedStepRunner {
  readonly #main: Model;
  readonly #sessions = new Map<Model, Session>();
  /** The method's per-generation memory (CombineContext.memory). */
  readonly memory: Record<string, unknown> = {};

  /** A session of the main model owned by the caller (not disposed here). */
  readonly #borrowed: Session | undefined;

  /**
   * `mainSession`: the caller's session of the main model, when the caller also runs steps on it itself (the
   * pipeline's one-job path): a cache policy's stored block state lives in ONE session, so steps that alternate between
   * the one-job path and this runner (a weak term only in part of the run) must share it.
   */
  constructor(main: Model, mainSession?: Session) {
    this.#main = main;
    this.#borrowed = mainSession;
    if (mainSession) this.#sessions.set(main, mainSession);
  }

  async run(
    branches: readonly GuidanceBranch[], combination: GuidanceCombination | NonlinearCombination, step: GuidanceStep,
    x: Tensor, inputs: BranchInputs, signal: AbortSignal | undefined, cache?: GuidedStepCache,
  ): Promise<BranchRunOutput> {
    const batch = x.shape[0]!;
    const outputs: (Tensor | undefined)[] = new Array(branches.length);
    let macs = 0;
    let cacheResult: GuidedStepCacheResult | undefined;
    try {
      // One session step per model, the branches of that model in their declared order.
      const byModel = new Map<Model, number[]>();
      branches.forEach((b, i) => {
        const m = b.model ?? this.#main;
        byModel.set(m, [...(byModel.get(m) ?? []), i]);
      });
      for (const [model, indices] of byModel) {
        let session = this.#sessions.get(model);
        if (!session) { session = model.session(); this.#sessions.set(model, session); }
        const depth = model.config.depth;
        const cached = cache && model === this.#main ? cache : undefined;
        const result = await session.step(x, new Float32Array(batch).fill(step.t), {
          // The cache policy numbers the pipeline model's branches only (second-model branches run uncached).
          branches: indices.map((i, k) => ({
            key: branches[i]!.name,
            ...branchInput(inputs, branches[i]!),
            ...(cached ? cacheBranch(cached.run, cached.step, k, branches[i]!.plan) : planActions(branches[i]!.plan, depth)),
          })),
          ...(cached?.budgetBytes !== undefined ? { cacheBudgetBytes: cached.budgetBytes } : {}),
          returnBranchOutputs: true,
          signal,
        });
        if (cached) cacheResult = result;
        macs += result.macs;
        indices.forEach((i, k) => { outputs[i] = result.branchOutputs[k]; });
      }
      let velocity: Tensor;
      if (isNonlinear(combination) && x.device !== "cpu" && combination.combineTensors) {
        // On a GPU a method with a Tensor form combines where the outputs are: the latents stay on the device.
        velocity = combination.combineTensors(outputs as Tensor[], { x, batch, step, memory: this.memory });
      } else if (isNonlinear(combination)) {
        // The combination is a function of host arrays (NonlinearCombination.combine): on a GPU its inputs come down
        // and its result goes back up, counted (docs/cuda.md, "Device tensors").
        const values = combination.combine(outputs.map((o) => o!.toFloat32Array()), { x: x.toFloat32Array(), batch, step, memory: this.memory });
        const host = Tensor.from(values, x.shape);
        if (x.device === "cpu") velocity = host;
        else {
          try {
            velocity = this.#main.toDevice(host);
          } finally {
            host.dispose();
          }
        }
      } else if (branches.length === 0) {
        throw new RangeError("Expected at least one branch for a linear guidance combination but received none");
      } else {
        velocity = combineBranches(combination, outputs as Tensor[]);
        if (outputs.includes(velocity)) outputs[outputs.indexOf(velocity)] = undefined; // a single branch IS the output
      }
      return { velocity, macs, ...(cacheResult ? { cache: cacheResult } : {}) };
    } finally {
      for (const o of outputs) o?.dispose();
    }
  }

  dispose(): void {
    for (const s of this.#sessions.values()) if (s !== this.#borrowed) s.dispose();
    this.#sessions.clear();
    for (const value of Object.values(this.memory)) if (value instanceof Tensor) value.dispose();
  }
}

/** The inputs of one branch (RangeError when it needs an unconditional input that does not exist). */
function branchInput(inputs: BranchInputs, branch: GuidanceBranch): BranchInput {
  if (branch.condition !== "null") return inputs.class;
  if (!inputs.null) throw new RangeError(`Expected unconditional inputs for the guidance branch "${branch.name}" but received none`);
  return inputs.null;
}

/** A Guider plan as the session's per-block actions (nothing for COMPUTE_ALL: every block computes). */
export function planActions(plan: BlockPlan, depth: number): { actions?: SessionBlockAction[] } {
  const entries = Object.entries(plan.blocks);
  if (entries.length === 0) return {};
  const actions: SessionBlockAction[] = Array.from({ length: depth }, () => ({ kind: "compute" }));
  for (const [key, action] of entries) {
    const block = Number(key);
    if (block >= depth) throw new RangeError(`Expected block index between 0 and ${depth - 1} for plan block but received ${block}`);
    actions[block] = action.kind === "scale" ? { kind: "scale", alpha: action.alpha } : { kind: action.kind };
  }
  return { actions };
}

// Block plans: what each transformer block does in one branch of one sampling step (docs/architecture.md, "branches, blocks
// and plans"). A plan lists only the blocks that do something other than compute; every other block computes, so a
// plan does not depend on the model's depth until it is expanded. The actions: compute, skip = identity,
// scale(α) = h_in + α·(block(h_in) − h_in), perturbAttention = the block's self-attention output replaced by V (the
// identity attention map of PAG, Ahn et al. 2024, and STG-A, Hyung et al. 2025); the cache issue adds reuse,
// forecast and store here. Guiders (src/guidance/) declare one plan per branch; cache policies
// (src/cache/) will refine them per sample.
import { rangeError, typeError } from "./errors.js";

export type BlockAction =
  | { readonly kind: "compute" }
  | { readonly kind: "skip" }
  | { readonly kind: "scale"; readonly alpha: number }
  | { readonly kind: "perturbAttention" };

export interface BlockPlan {
  /** Actions of the blocks that do not simply compute, by block index. */
  readonly blocks: Readonly<Record<number, BlockAction>>;
}

/** The plan of a plain forward: every block computes. */
export const COMPUTE_ALL: BlockPlan = Object.freeze({ blocks: Object.freeze({}) });

/** A frozen plan from block index → action (compute entries are dropped; indices and α are checked). */
export function blockPlan(blocks: Readonly<Record<number, BlockAction>>): BlockPlan {
  if (blocks === null || typeof blocks !== "object") throw typeError("object of block index → action", "blocks", blocks);
  const out: Record<number, BlockAction> = {};
  for (const [key, action] of Object.entries(blocks)) {
    const index = Number(key);
    if (!Number.isSafeInteger(index) || index < 0) throw rangeError("non-negative integer block index", "blocks key", key);
    if (action === null || typeof action !== "object") throw typeError("block action", `blocks[${index}]`, action);
    if (action.kind === "compute") continue;
    if (action.kind === "skip" || action.kind === "perturbAttention") out[index] = Object.freeze({ kind: action.kind });
    else if (action.kind === "scale") {
      if (typeof action.alpha !== "number" || !Number.isFinite(action.alpha)) throw typeError("finite number", `blocks[${index}].alpha`, action.alpha);
      out[index] = Object.freeze({ kind: "scale", alpha: action.alpha });
    } else throw typeError("'compute', 'skip', 'scale' or 'perturbAttention'", `blocks[${index}].kind`, (action as { kind: unknown }).kind);
  }
  return Object.freeze({ blocks: Object.freeze(out) });
}

/** Whether two plans run every block the same way (so their branches can share one batched forward). */
export function samePlan(a: BlockPlan, b: BlockPlan): boolean {
  if (a === b) return true;
  const ka = Object.keys(a.blocks), kb = Object.keys(b.blocks);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => {
    const x = a.blocks[Number(k)]!, y = b.blocks[Number(k)];
    return y !== undefined && x.kind === y.kind && (x.kind !== "scale" || (y.kind === "scale" && x.alpha === y.alpha));
  });
}

/** Whether model.forwardDetailed can run the plan (it has skipBlocks / blockScales, no perturbed attention). */
export function forwardCanRun(plan: BlockPlan): boolean {
  return Object.values(plan.blocks).every((a) => a.kind !== "perturbAttention");
}

/** The plan as model.forwardDetailed's skipBlocks / blockScales options (empty for COMPUTE_ALL). */
export function planForwardOptions(plan: BlockPlan): { skipBlocks?: number[]; blockScales?: Record<number, number> } {
  const skipBlocks: number[] = [];
  const blockScales: Record<number, number> = {};
  for (const [key, action] of Object.entries(plan.blocks)) {
    if (action.kind === "skip") skipBlocks.push(Number(key));
    else if (action.kind === "scale") blockScales[Number(key)] = action.alpha;
    else if (action.kind === "perturbAttention") throw rangeError("a plan without perturbAttention (forwardDetailed has no such option; run it in a session step)", "plan", key);
  }
  return {
    ...(skipBlocks.length ? { skipBlocks } : {}),
    ...(Object.keys(blockScales).length ? { blockScales } : {}),
  };
}

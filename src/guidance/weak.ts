// How a guidance method weakens (or strengthens) the model for one branch, written so it does not depend on one
// model's depth (docs/guidance.md, "Defaults that travel"): a block range as FRACTIONS of the depth and an action
// on it — scale(α) (h + α·(block(h) − h): α < 1 weakens, α > 1 strengthens, α = 0 is a skip), skip, or
// perturbAttention (self-attention output = V; PAG, Ahn et al. 2024 / STG-A, Hyung et al. 2025) — or explicit block
// indices (SLG / PAG as their papers give them, e.g. layers [7, 8, 9]). A block i of a depth-L model is in the
// range [from, to) when its centre (i + ½)/L is, so `from 0.5, to 1` is the second half of any model.
import { rangeError, typeError } from "../errors.js";
import { blockPlan, type BlockAction, type BlockPlan } from "../plan.js";

export type PerturbationKind = "scale" | "skip" | "perturbAttention";

export interface Perturbation {
  readonly kind: PerturbationKind;
  /** For scale: the gain α. */
  readonly alpha?: number;
  /** Block range as fractions of depth, [from, to) on block centres; or `layers` instead. */
  readonly from?: number;
  readonly to?: number;
  /** Explicit block indices (instead of from / to). */
  readonly layers?: readonly number[];
}

export function checkPerturbation(p: Perturbation, name: string): Perturbation {
  if (p === null || typeof p !== "object") throw typeError("object { kind, alpha?, from?, to?, layers? }", name, p);
  const { kind, alpha, from = 0, to = 1, layers } = p;
  if (kind !== "scale" && kind !== "skip" && kind !== "perturbAttention") throw typeError("'scale', 'skip' or 'perturbAttention'", `${name}.kind`, kind);
  if (kind === "scale" && (typeof alpha !== "number" || !Number.isFinite(alpha))) throw typeError("finite number", `${name}.alpha`, alpha);
  if (layers !== undefined) {
    if (!Array.isArray(layers) || layers.length === 0 || !layers.every((l) => Number.isSafeInteger(l) && l >= 0)) {
      throw rangeError("non-empty array of block indices", `${name}.layers`, layers);
    }
    return Object.freeze({ kind, ...(kind === "scale" ? { alpha } : {}), layers: Object.freeze([...layers]) });
  }
  for (const [key, v] of [["from", from], ["to", to]] as const) {
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) throw rangeError("number between 0 and 1", `${name}.${key}`, v);
  }
  if (!(from < to)) throw rangeError(`number greater than from (${from})`, `${name}.to`, to);
  return Object.freeze({ kind, ...(kind === "scale" ? { alpha } : {}), from, to });
}

/** The block indices a perturbation touches in a depth-L model (an index ≥ L is an error, not silently dropped). */
export function perturbedBlocks(p: Perturbation, depth: number): number[] {
  if (p.layers) {
    const bad = p.layers.find((l) => l >= depth);
    if (bad !== undefined) throw rangeError(`block index between 0 and ${depth - 1}`, "guidance layer", bad);
    return [...p.layers];
  }
  const from = p.from ?? 0, to = p.to ?? 1;
  const out: number[] = [];
  for (let i = 0; i < depth; i++) {
    const centre = (i + 0.5) / depth;
    if (centre >= from && centre < to) out.push(i);
  }
  if (out.length === 0) throw rangeError(`a block range holding at least one of the ${depth} blocks`, "guidance block range", `[${from}, ${to})`);
  return out;
}

/** The block plan of one or more perturbations at this depth (a later one overrides an earlier one on a block). */
export function perturbationPlan(perturbations: readonly Perturbation[], depth: number): BlockPlan {
  const blocks: Record<number, BlockAction> = {};
  for (const p of perturbations) {
    const action: BlockAction = p.kind === "scale" ? { kind: "scale", alpha: p.alpha! } : { kind: p.kind };
    for (const i of perturbedBlocks(p, depth)) blocks[i] = action;
  }
  return blockPlan(blocks);
}

/** A short stable description (branch names, toJSON): "scale0.9@0.5-1", "skip@4", "perturbAttention@0.5-0.67". */
export function describePerturbation(p: Perturbation): string {
  const where = p.layers ? p.layers.join("+") : `${p.from}-${p.to}`;
  return `${p.kind === "scale" ? `scale${p.alpha}` : p.kind}@${where}`;
}

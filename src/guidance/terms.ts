// Linear guidance written the way the papers write it: a base prediction plus scaled differences of branch
// predictions, guided = D_base + Σ_k s_k·(D_plus_k − D_minus_k) (CFG: D_u + w(D_c − D_u); SLG / PAG / STG:
// + s(D_c − D_weak); autoguidance, Karras et al. 2024: D_w + w(D_c − D_w); strong/weak: D_w + w(D_s − D_w)).
// This file turns such a formula into the Guider contract (src/guidance/guider.ts): the distinct branches in batch
// order (terms' branches in order of appearance, then the base) and affine weights anchored on the base, so
// the native epilogue evaluates it in combineBranches' float order. Terms with scale 0 are dropped with their
// branches (no pass is paid for a term that contributes nothing).
import { rangeError, typeError } from "../errors.js";
import { affineCombination, type GuidanceBranch, type GuidanceCombination } from "./guider.js";

export interface GuidanceTerm {
  readonly plus: GuidanceBranch;
  readonly minus: GuidanceBranch;
  readonly scale: number;
}

export interface LinearGuidance {
  readonly branches: readonly GuidanceBranch[];
  readonly combination: GuidanceCombination;
}

/** The branches and anchored weights of D_base + Σ scale·(D_plus − D_minus); branches are identified by name. */
export function linearGuidance(base: GuidanceBranch, terms: readonly GuidanceTerm[]): LinearGuidance {
  const branches: GuidanceBranch[] = [];
  const indexOf = (b: GuidanceBranch): number => {
    const found = branches.findIndex((o) => o.name === b.name);
    if (found >= 0) {
      if (branches[found] !== b) throw rangeError("distinct names for distinct branches", "branch name", b.name);
      return found;
    }
    branches.push(b);
    return branches.length - 1;
  };
  const live = terms.filter((term) => {
    if (typeof term.scale !== "number" || !Number.isFinite(term.scale)) throw typeError("finite number", "term scale", term.scale);
    return term.scale !== 0 && term.plus.name !== term.minus.name;
  });
  const weights = new Map<number, number>();
  for (const { plus, minus, scale } of live) {
    const p = indexOf(plus), m = indexOf(minus);
    weights.set(p, (weights.get(p) ?? 0) + scale);
    weights.set(m, (weights.get(m) ?? 0) - scale);
  }
  const anchor = indexOf(base);
  weights.delete(anchor);
  return Object.freeze({
    branches: Object.freeze(branches),
    combination: affineCombination(branches.length, anchor, Object.fromEntries(weights)),
  });
}

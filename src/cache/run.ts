// What a cache policy does during one generation (docs/caching.md): a CacheRun is created per generate() (or per
// custom loop) and, at every step, gives each branch its part of the session request — per-sample block actions
// (compute + store a span, reuse or forecast a stored span), signal requests and the native online rule — then reads
// back the per-sample signals and hits the executor computed (native/src/runtime/executor.cpp). No hidden state
// reaches JS: only these per-sample numbers. Helpers here build the plans every policy shares.
import type { FirstBlockCacheOptions, SessionBlockAction, SessionSignal } from "../session.js";

export interface CacheContext {
  /** Blocks of the backbone. */
  depth: number;
  /** Samples per branch. */
  batch: number;
  /** Branches per step (CFG: 2). */
  branches: number;
  /** Sampling steps of the run. */
  total: number;
}

export interface CacheStep {
  /** 0-based step of the run. */
  index: number;
  total: number;
  sigma: number;
}

export interface CacheBranchPlan {
  /** One plan per sample (omitted: every block computes). */
  actions?: SessionBlockAction[][];
  signals?: SessionSignal[];
  firstBlockCache?: FirstBlockCacheOptions;
}

export interface CacheRun {
  plan(step: CacheStep, branch: number): CacheBranchPlan;
  /** The step's results, per branch: signals (k·B + s, then the rule's distance) and the rule's hits. */
  observe(step: CacheStep, signals: readonly Float32Array[], hits: readonly Uint8Array[]): void;
}

/** Every block computes; blocks [begin, end) also store their residual. */
export function computeStoring(depth: number, begin = 0, end = depth): SessionBlockAction[] {
  const actions: SessionBlockAction[] = Array.from({ length: depth }, () => ({ kind: "compute" }));
  actions[begin] = { kind: "compute", storeEnd: end };
  return actions;
}

/** Blocks [begin, end) add their stored residual (reuse) or its first-order forecast; the others compute. */
export function replacingSpan(depth: number, kind: "reuse" | "forecast", begin = 0, end = depth): SessionBlockAction[] {
  const actions: SessionBlockAction[] = Array.from({ length: depth }, () => ({ kind: "compute" }));
  actions[begin] = { kind, spanEnd: end };
  for (let i = begin + 1; i < end; i++) actions[i] = { kind: "skip" };
  return actions;
}

/** Per-sample plans from per-sample choices: `true` computes and stores [begin, end), `false` replaces it. */
export function spanPlans(
  depth: number, compute: readonly boolean[], kind: "reuse" | "forecast", begin = 0, end = depth,
): SessionBlockAction[][] {
  const store = computeStoring(depth, begin, end), replace = replacingSpan(depth, kind, begin, end);
  return compute.map((c) => (c ? store : replace));
}

/** The value of signal request k of sample s in one branch's signal array (B samples per request). */
export function signalAt(signals: Float32Array, k: number, s: number, batch: number): number {
  return signals[k * batch + s]!;
}

/** Nearest-index resampling of a per-step curve to `steps` steps (MagCache resamples its ratio curve this way). */
export function resampleNearest(curve: readonly number[], steps: number): number[] {
  if (curve.length === steps) return [...curve];
  return Array.from({ length: steps }, (_, i) => curve[Math.min(curve.length - 1, Math.round((i * (curve.length - 1)) / Math.max(1, steps - 1)))]!);
}

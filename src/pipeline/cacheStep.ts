// The cache's part of a pipeline step (docs/caching.md): a branch's session request from the policy's CacheRun, and
// the counters the step adds to GenerateStats. A cache policy plans every block of a branch, so it runs with the
// Guider branches whose plan computes every block (CFG's two branches); a weakened branch (skip / scale) and a cache
// plan on the same blocks would contradict each other, which is refused rather than merged silently.
import type { CacheRun, CacheStep } from "../cache/run.js";
import type { BlockPlan } from "../plan.js";
import type { SessionBranch } from "../session.js";

export interface CacheTally {
  blocksComputed: number;
  blocksReused: number;
  macs: number;
  cacheBytes: number;
  stepComputed?: number;
  stepReused?: number;
}

export function cacheBranch(run: CacheRun, step: CacheStep, branch: number, guiderPlan: BlockPlan): Pick<SessionBranch, "actions" | "signals" | "firstBlockCache"> {
  if (Object.keys(guiderPlan.blocks).length > 0) {
    throw new RangeError("Expected guidance branches that compute every block with a cache policy, but a branch skips or scales blocks");
  }
  const p = run.plan(step, branch);
  return {
    ...(p.actions ? { actions: p.actions } : {}),
    ...(p.signals ? { signals: p.signals } : {}),
    ...(p.firstBlockCache ? { firstBlockCache: p.firstBlockCache } : {}),
  };
}

/** A cached step's result into the policy's observations and the generation's counters. */
export function tallyCache(
  run: CacheRun, step: CacheStep, result: { signals: Parameters<CacheRun["observe"]>[1]; cacheHits: Parameters<CacheRun["observe"]>[2]; blocksComputed: number; blocksReused: number; macs: number; slotBytes: number },
  tally: CacheTally,
): void {
  run.observe(step, result.signals, result.cacheHits);
  tally.blocksComputed += result.blocksComputed;
  tally.blocksReused += result.blocksReused;
  tally.macs += result.macs;
  tally.cacheBytes = Math.max(tally.cacheBytes, result.slotBytes);
  tally.stepComputed = result.blocksComputed;
  tally.stepReused = result.blocksReused;
}

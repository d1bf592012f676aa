// Guidance tuning without fooling ourselves (docs/guidance.md, "Tuning"): a method's parameter grid is measured on
// TUNING seeds (seed base 10000 and up; the standard report seeds 0…9999 are refused) at a small N, next to the
// plain CFG run at the model's recommended scale on the same seeds; the chosen setting is the lowest FD whose ACC is
// not lower than that CFG run's. It is then to be evaluated on the standard seeds (`ditto eval --guidance SPEC`),
// never reported from the tuning run. A budget smaller than the grid takes evenly spaced grid points.
import { rangeError } from "../errors.js";
import { ClassifierFreeGuidance } from "../guidance/cfg.js";
import { guiderFrom } from "../guidance/policy.js";
import { formatSpec, type PolicySpec } from "../policySpec.js";
import type { MeasureOptions, QualityMeter } from "./meter.js";

/** The first seed base tune-guidance accepts: seeds below it are the report seeds. */
export const FIRST_TUNING_SEED = 10_000;

/** A grid for a model of the given depth whose recommended CFG scale is `cfgScale` (for methods with a CFG term). */
type Grid = (depth: number, cfgScale: number) => PolicySpec[];

function product(kind: string, axes: Record<string, readonly (number | number[] | string)[]>): PolicySpec[] {
  let out: PolicySpec[] = [{ kind }];
  for (const [key, values] of Object.entries(axes)) out = out.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  return out;
}

const eachBlock = (depth: number) => Array.from({ length: depth }, (_, i) => [i]);

/** Each method's parameter grid (as SPEC objects) for a model of the given depth. */
export const TUNING_GRIDS: Readonly<Record<string, Grid>> = Object.freeze({
  cfg: () => product("cfg", { scale: [2, 3, 4, 5, 6] }),
  interval: () => product("interval", { scale: [4, 5, 6], sigmaLo: [0, 0.1, 0.2], sigmaHi: [0.7, 0.85, 1] }),
  schedule: () => product("schedule", { scale: [6, 7, 8], shape: ["linear", "cosine"] }),
  autoguidance: () => product("autoguidance", { alpha: [0.8, 0.9], from: [0, 0.5], scale: [1.5, 2, 3], cfgScale: [3, 4] }),
  // Autoguidance with the model's low-rank copy on top of its own CFG scale (docs/guidance.md, rounds 3 and 4).
  weakRank: (_, g) => product("autoguidance", { weakRank: [0.5, 0.6, 0.75], scale: [1.25, 1.5], cfgScale: [g], weakUncond: [0, 1], weakSigmaLo: [0, 0.5], refreshEvery: [2] }),
  slg: (d) => product("slg", { layers: eachBlock(d), scale: [1, 2.8], start: [0.01], stop: [0.2, 0.5] }),
  stg: (d) => product("stg", { layers: eachBlock(d), scale: [0.5, 1] }),
  pag: (d) => product("pag", { layers: eachBlock(d), scale: [0.5, 1, 3] }),
  apg: () => product("apg", { cfgScale: [4, 6, 8], eta: [0, 0.5], normThreshold: [5, 10, 20] }),
  cfgZeroStar: () => product("cfgZeroStar", { cfgScale: [3, 4, 5], zeroInitSteps: [0, 1, 2] }),
  strongWeak: () => product("strongWeak", { strongAlpha: [1.1, 1.2], strongTo: [0.5], weakAlpha: [0.8, 0], weakFrom: [0.5], scale: [1.5, 2], cfgScale: [3, 4] }),
});

export interface TuneOptions extends MeasureOptions {
  method: string;
  /** Most settings to measure (default: the whole grid). */
  budget?: number;
  onTrial?: (trial: TuneTrial) => void;
}

export interface TuneTrial {
  spec: string;
  fd: number;
  acc: number;
  macs: number;
}

export interface TuneResult {
  method: string;
  /** The chosen setting as a SPEC (null when no setting kept ACC at the reference's level). */
  chosen: string | null;
  reference: TuneTrial;
  trials: TuneTrial[];
  n: number;
  steps: number;
  seedBase: number;
}

export async function tuneGuidance(meter: QualityMeter, o: TuneOptions): Promise<TuneResult> {
  const grid = Object.hasOwn(TUNING_GRIDS, o.method) ? TUNING_GRIDS[o.method] : undefined;
  if (!grid) throw rangeError(`one of ${Object.keys(TUNING_GRIDS).join(", ")}`, "method", o.method);
  if (!Number.isSafeInteger(o.seedBase) || o.seedBase < FIRST_TUNING_SEED) {
    throw rangeError(`tuning seed base of at least ${FIRST_TUNING_SEED} (seeds below are the report seeds: never pick and report on the same seeds)`, "seedBase", o.seedBase);
  }
  const cfg = meter.pipeline.recommended.guidanceScale;
  const all = grid(meter.pipeline.model.config.depth, cfg);
  const budget = o.budget ?? all.length;
  if (!Number.isSafeInteger(budget) || budget < 1) throw rangeError("positive integer", "budget", budget);
  const picked = budget >= all.length ? all : Array.from({ length: budget }, (_, i) => all[Math.floor((i * all.length) / budget)]!);
  const base = await meter.measure(new ClassifierFreeGuidance({ scale: cfg }), o);
  const reference: TuneTrial = { spec: `cfg:scale=${cfg}`, fd: base.fd, acc: base.acc, macs: base.macs };
  const trials: TuneTrial[] = [];
  for (const spec of picked) {
    const guider = guiderFrom(spec);
    const m = await meter.measure(guider, o);
    const trial = { spec: formatSpec(guider.toJSON()), fd: m.fd, acc: m.acc, macs: m.macs };
    trials.push(trial);
    o.onTrial?.(trial);
  }
  const eligible = trials.filter((t) => t.acc >= reference.acc).sort((a, b) => a.fd - b.fd);
  return { method: o.method, chosen: eligible[0]?.spec ?? null, reference, trials, n: o.n, steps: o.steps, seedBase: o.seedBase };
}

// `ditto calibrate` (docs/caching.md): runs the uncached sampler on calibration seeds through the pipeline with a
// recorder as its cache run — every step computes and stores the stack's residual, and the executor returns, per
// branch and sample, block 0's input change d, the residual's relative change e = |R_t − R_{t−1}| / |R_t| and its
// L2 norm — then fits TeaCache's polynomial e ≈ poly₄(d) by least squares (the maintainers' recipe: polyfit of input
// change → output change) and MagCache's curve γ_t = mean(|R_t| / |R_{t−1}|).
import { CachePolicy } from "./policy.js";
import { polyfit } from "./fit.js";
import { PROFILE_FORMAT, type CacheProfile } from "./profile.js";
import { computeStoring, type CacheContext, type CacheRun } from "./run.js";
import type { Pipeline } from "../pipeline/pipeline.js";

export interface CalibrationRecord {
  /** Per step: (d, e) pairs of every branch and sample, and the norm ratios. */
  inputChange: number[];
  residualChange: number[];
  ratioSums: number[];
  ratioCounts: number[];
}

export function recorderRun(ctx: CacheContext, record: CalibrationRecord): CacheRun {
  const { depth, batch } = ctx;
  const plans = Array.from({ length: batch }, () => computeStoring(depth));
  let norms: number[][] | undefined; // [branch][sample] of the previous step
  return {
    plan() {
      return {
        actions: plans,
        signals: [
          { block: 0, kind: "input" },
          { block: 0, kind: "forecastError", end: depth, order: 0 },
          { block: 0, kind: "residualNorm", end: depth },
        ],
      };
    },
    observe(step, signals) {
      const now = signals.map((sig) => Array.from({ length: batch }, (_, s) => sig[2 * batch + s]!));
      while (record.ratioSums.length <= step.index) {
        record.ratioSums.push(0);
        record.ratioCounts.push(0);
      }
      signals.forEach((sig, b) => {
        for (let s = 0; s < batch; s++) {
          const d = sig[s]!, e = sig[batch + s]!;
          if (Number.isFinite(d) && Number.isFinite(e)) {
            record.inputChange.push(d);
            record.residualChange.push(e);
          }
          const before = norms?.[b]?.[s];
          if (before !== undefined && before > 0) {
            record.ratioSums[step.index]! += now[b]![s]! / before;
            record.ratioCounts[step.index]!++;
          }
        }
      });
      norms = now;
    },
  };
}

export interface CalibrateOptions {
  pipe: Pipeline;
  labels: Int32Array;
  seeds: number[];
  steps: number;
  guidanceScale: number;
  batchSize: number;
  source: Record<string, unknown>;
  onProgress?: (done: number, total: number) => void;
}

export async function calibrate(o: CalibrateOptions): Promise<CacheProfile> {
  const record: CalibrationRecord = { inputChange: [], residualChange: [], ratioSums: [], ratioCounts: [] };
  const cache = CachePolicy._withRun("calibration", (ctx) => recorderRun(ctx, record));
  const n = o.labels.length;
  for (let start = 0; start < n; start += o.batchSize) {
    const end = Math.min(n, start + o.batchSize);
    const out = await o.pipe.generate({
      classLabels: o.labels.subarray(start, end), seed: o.seeds.slice(start, end), steps: o.steps,
      guidanceScale: o.guidanceScale, noise: "philox", cache,
    });
    out.latents.dispose();
    o.onProgress?.(end, n);
  }
  const coefficients = polyfit(record.inputChange, record.residualChange, 4);
  const ratios = record.ratioSums.map((sum, i) => (record.ratioCounts[i]! > 0 ? sum / record.ratioCounts[i]! : 1));
  return { format: PROFILE_FORMAT, source: { ...o.source, points: record.inputChange.length }, teaCache: { coefficients }, magCache: { ratios } };
}

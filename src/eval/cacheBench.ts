// The cache benchmark behind examples/bench-cache.mjs (docs/caching.md): ONE uncached run on the protocol's seeds,
// then every policy setting and the fewer-steps control (uncached Euler with fewer steps) on the same seeds in the
// same process, each scored like the harness: MACs reduction and wall-clock speed-up against that uncached run,
// FD / ACC, and PSNR / SSIM against its images. A policy whose PSNR is below the control's curve (interpolated at
// its MACs reduction) is marked.
import { batchFidelity } from "../metrics/fidelity.js";
import { Classifier, accuracy } from "../metrics/classifier.js";
import { featureStats, frechetDistance } from "../metrics/frechet.js";
import { Pipeline } from "../pipeline/pipeline.js";
import { CachePolicy } from "../cache/policy.js";
import { readFixtureInfo } from "../io/ditJson.js";
import { classifierPath, loadRealStats } from "./fixture.js";
import { generateSet, protocolLabels, type EvalOptions } from "./harness.js";

export interface CacheBenchRow {
  name: string;
  kind: "uncached" | "policy" | "control";
  macsReduction: number;
  speedup: number;
  fd: number;
  acc: number;
  psnr: number | null;
  ssim: number | null;
  wallMs: number;
  cacheBytes: number;
  /** PSNR of the fewer-steps control interpolated at this row's MACs reduction (policies only). */
  controlPsnr?: number;
  belowControl?: boolean;
}

export interface CacheBenchOptions {
  fixture: string;
  n: number;
  seedBase: number;
  policies: readonly string[];
  controlSteps: readonly number[];
  threads?: number;
  batchSize?: number;
  onRow?: (row: CacheBenchRow) => void;
}

/**
 * Piecewise-linear interpolation of the control's PSNR over its MACs reductions; undefined more than 2% below the
 * smallest reduction measured (fewer steps saving less would be closer to the uncached images: no comparison), the
 * last point's PSNR beyond the largest (the control only gets worse there).
 */
export function controlPsnrAt(control: readonly { macsReduction: number; psnr: number }[], reduction: number): number | undefined {
  const pts = [...control].sort((a, b) => a.macsReduction - b.macsReduction);
  if (reduction < 0.98 * pts[0]!.macsReduction) return undefined;
  if (reduction <= pts[0]!.macsReduction) return pts[0]!.psnr;
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1]!, b = pts[i]!;
    if (reduction <= b.macsReduction) return a.psnr + ((b.psnr - a.psnr) * (reduction - a.macsReduction)) / (b.macsReduction - a.macsReduction);
  }
  return pts[pts.length - 1]!.psnr;
}

export async function benchCache(o: CacheBenchOptions): Promise<CacheBenchRow[]> {
  const info = readFixtureInfo(o.fixture);
  const steps = info.recommendedSteps ?? 50, cfg = info.recommendedCfg ?? 4;
  const policies = o.policies.map((spec) => CachePolicy.from(spec)); // refuse bad SPECs before any work
  const labels = protocolLabels(o.n, info.numClasses);
  const classifier = await Classifier.load(classifierPath(o.fixture), { threads: o.threads });
  const realStats = loadRealStats(o.fixture);
  const pipe = await Pipeline.load({ kind: "class-conditional", model: o.fixture, threads: o.threads });
  const shape = { height: info.height, width: info.width, channels: info.channels };
  const rows: CacheBenchRow[] = [];
  try {
    const base: EvalOptions = { fixture: o.fixture, n: o.n, steps, cfg, seedBase: o.seedBase, batchSize: o.batchSize };
    const score = async (images: Uint8Array) => {
      const out = await classifier.classify(images, o.n, info.height, info.width, info.channels);
      return { fd: frechetDistance(featureStats(out.features, o.n, out.featureDim), realStats), acc: accuracy(out.logits, out.numClasses, labels) };
    };
    const plain = await generateSet(pipe, labels, base, {}, "plain");
    const push = (row: CacheBenchRow) => { rows.push(row); o.onRow?.(row); };
    push({ name: `uncached (${steps} steps)`, kind: "uncached", macsReduction: 1, speedup: 1, ...(await score(plain.images)), psnr: null, ssim: null, wallMs: plain.stats.wallMs, cacheBytes: 0 });
    const control: { macsReduction: number; psnr: number }[] = [];
    for (const k of o.controlSteps) {
      const run = await generateSet(pipe, labels, { ...base, steps: k }, {}, "generate");
      const fidelity = batchFidelity(run.images, plain.images, o.n, shape);
      const row: CacheBenchRow = { name: `fewer steps (${k})`, kind: "control", macsReduction: plain.stats.macs / run.stats.macs, speedup: plain.stats.wallMs / run.stats.wallMs, ...(await score(run.images)), ...fidelity, wallMs: run.stats.wallMs, cacheBytes: 0 };
      control.push({ macsReduction: row.macsReduction, psnr: fidelity.psnr });
      push(row);
    }
    for (const policy of policies) {
      const run = await generateSet(pipe, labels, base, { cache: policy }, "generate");
      const fidelity = batchFidelity(run.images, plain.images, o.n, shape);
      const macsReduction = run.stats.macsUncached / run.stats.macs;
      const controlPsnr = control.length ? controlPsnrAt(control, macsReduction) : undefined;
      push({
        name: policy.toString(), kind: "policy", macsReduction, speedup: plain.stats.wallMs / run.stats.wallMs, ...(await score(run.images)), ...fidelity,
        wallMs: run.stats.wallMs, cacheBytes: run.stats.cacheBytes,
        ...(controlPsnr !== undefined ? { controlPsnr, belowControl: fidelity.psnr < controlPsnr } : {}),
      });
    }
    return rows;
  } finally {
    await pipe.dispose();
    await classifier.dispose();
  }
}

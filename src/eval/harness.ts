// The quality harness behind `ditto eval` (shared/fixtures/glyphs/README.md, "The evaluation protocol"; contract in
// shared/contracts.md): N samples, sample k with label floor(k·classes/N) and noise Philox(K + k) or the fixture's
// reference gaussian(K + k); the fixture's reference sampler (uniform flow Euler, CFG on the whole output) batched
// across samples with cond + uncond in one 2B forward; FD (classifier fc1 features vs real-stats) and ACC; with a
// cache or guidance policy also the plain run on the same seeds, reported as PSNR / SSIM against it.
import type { DeviceSpec } from "../device.js";
import { rangeError } from "../errors.js";
import { writeSafetensors } from "../io/safetensors.js";
import { batchFidelity } from "../metrics/fidelity.js";
import { Classifier, accuracy } from "../metrics/classifier.js";
import { featureStats, frechetDistance } from "../metrics/frechet.js";
import type { NoiseKind } from "../noise/index.js";
import { baseSeedRange } from "../pipeline/options.js";
import { Pipeline, type GenerateStats } from "../pipeline/pipeline.js";
import { CachePolicy } from "../cache/policy.js";
import { guiderFrom } from "../guidance/policy.js";
import type { Guider } from "../guidance/guider.js";
import { readFixtureInfo } from "../io/ditJson.js";
import { formatSpec } from "../policySpec.js";
import { classifierPath, loadRealStats } from "./fixture.js";

export interface EvalOptions {
  fixture: string;
  n: number;
  steps: number;
  cfg: number;
  seedBase: number;
  noise?: NoiseKind;
  cache?: string;
  guidance?: string;
  /** Write the images (u8 [N,H,W,C]) and labels (i64 [N]) to this safetensors file. */
  save?: string;
  threads?: number;
  dtype?: "f32" | "bf16";
  /** Where the pipeline runs (default 'cpu': the protocol's reference numbers are CPU runs; 'cuda' for the GPU). */
  device?: DeviceSpec;
  /** Samples per generate() call (each step is one forward of 2·batchSize with CFG). Default 100. */
  batchSize?: number;
  /** Progress: samples done of the run named `phase`. */
  onProgress?: (event: { phase: "generate" | "plain" | "metrics"; done: number; total: number; step?: number; steps?: number }) => void;
}

export interface EvalResult {
  fd: number;
  acc: number;
  psnr: number | null;
  ssim: number | null;
  macs: number;
  macsUncached: number;
  wallMs: number;
  peakBytes: number;
  blocksComputed: number;
  blocksReused: number;
  /** Peak bytes of stored residuals of one generate() call. */
  cacheBytes: number;
  /** With a cache policy: the uncached run on the same seeds, in the same process (FD, ACC, wall time). */
  fdUncached?: number;
  accUncached?: number;
  wallMsUncached?: number;
  n: number;
  steps: number;
  cfg: number;
  seedBase: number;
  noise: NoiseKind;
  cache?: string;
  guidance?: string;
}

export interface GeneratedSet {
  /** u8 NHWC. */
  images: Uint8Array;
  labels: Int32Array;
  stats: GenerateStats;
}

/** Labels of the protocol: sample k gets floor(k·classes/N). */
export function protocolLabels(n: number, classes: number): Int32Array {
  return Int32Array.from({ length: n }, (_, k) => Math.floor((k * classes) / n));
}

function checkOptions(o: EvalOptions, classes: number): void {
  const positiveInt = (v: number, name: string) => {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`Expected positive integer for ${name} but received ${v}`);
  };
  positiveInt(o.n, "n");
  positiveInt(o.steps, "steps");
  if (o.n % classes !== 0) throw new RangeError(`Expected a multiple of ${classes} (the number of classes) for n but received ${o.n}`);
  if (!Number.isFinite(o.cfg)) throw new RangeError(`Expected finite number for cfg but received ${o.cfg}`);
  const seeds = baseSeedRange(o.n, "seedBase");
  if (!Number.isSafeInteger(o.seedBase) || o.seedBase < 0 || o.seedBase > seeds.max) throw rangeError(seeds.expected, "seedBase", o.seedBase);
  if (o.batchSize !== undefined) positiveInt(o.batchSize, "batchSize");
}

export async function generateSet(
  pipe: Pipeline, labels: Int32Array, o: EvalOptions, policies: { cache?: CachePolicy; guidance?: Guider }, phase: "generate" | "plain",
): Promise<GeneratedSet> {
  const n = labels.length;
  const batchSize = o.batchSize ?? 100;
  const chunks: Uint8Array[] = [];
  const total: GenerateStats = { forwards: 0, blocksComputed: 0, blocksReused: 0, macs: 0, macsUncached: 0, wallMs: 0, peakBytes: 0, cacheBytes: 0 };
  for (let startK = 0; startK < n; startK += batchSize) {
    const count = Math.min(batchSize, n - startK);
    const out = await pipe.generate({
      classLabels: labels.subarray(startK, startK + count),
      seed: Array.from({ length: count }, (_, i) => o.seedBase + startK + i),
      steps: o.steps,
      guidanceScale: o.cfg,
      noise: o.noise ?? "philox",
      ...(policies.cache ? { cache: policies.cache } : {}),
      ...(policies.guidance ? { guidance: policies.guidance } : {}),
      onStep: (e) => o.onProgress?.({ phase, done: startK, total: n, step: e.step, steps: e.total }),
    });
    out.latents.dispose();
    for (const img of out.images) chunks.push(img.data);
    total.forwards += out.stats.forwards;
    total.blocksComputed += out.stats.blocksComputed;
    total.blocksReused += out.stats.blocksReused;
    total.macs += out.stats.macs;
    total.macsUncached += out.stats.macsUncached;
    total.wallMs += out.stats.wallMs;
    total.peakBytes = Math.max(total.peakBytes, out.stats.peakBytes);
    total.cacheBytes = Math.max(total.cacheBytes, out.stats.cacheBytes);
    o.onProgress?.({ phase, done: startK + count, total: n });
  }
  const size = chunks[0]!.length;
  const images = new Uint8Array(n * size);
  chunks.forEach((c, k) => images.set(c, k * size));
  return { images, labels, stats: total };
}

export async function runEval(o: EvalOptions): Promise<EvalResult> {
  const info = readFixtureInfo(o.fixture);
  checkOptions(o, info.numClasses);
  // Build the policies (refusing unknown or unimplemented ones) and find the metric files before any generation work.
  const cache = o.cache !== undefined ? CachePolicy.from(o.cache) : undefined;
  const guidance = o.guidance !== undefined ? guiderFrom(o.guidance) : undefined;
  const clfPath = classifierPath(o.fixture);
  const realStats = loadRealStats(o.fixture);
  const classifier = await Classifier.load(clfPath, { threads: o.threads });
  const labels = protocolLabels(o.n, info.numClasses);
  const noise = o.noise ?? "philox";

  const pipe = await Pipeline.load({ kind: "class-conditional", model: o.fixture, threads: o.threads, dtype: o.dtype, device: o.device ?? "cpu" });
  try {
    const run = await generateSet(pipe, labels, o, { cache, guidance }, "generate");
    let psnr: number | null = null, ssim: number | null = null;
    let plain: GeneratedSet | undefined;
    if (cache || guidance) {
      // With a cache policy the comparison run is the same guidance uncached (fdUncached is that run's FD); with a
      // guidance method alone it is plain CFG at the harness's scale.
      plain = await generateSet(pipe, labels, o, cache ? { guidance } : {}, "plain");
      const fidelity = batchFidelity(run.images, plain.images, o.n, { height: info.height, width: info.width, channels: info.channels });
      psnr = fidelity.psnr;
      ssim = fidelity.ssim;
    }
    o.onProgress?.({ phase: "metrics", done: 0, total: o.n });
    const score = async (images: Uint8Array) => {
      const out = await classifier.classify(images, o.n, info.height, info.width, info.channels);
      return { fd: frechetDistance(featureStats(out.features, o.n, out.featureDim), realStats), acc: accuracy(out.logits, out.numClasses, labels) };
    };
    const { fd, acc } = await score(run.images);
    const uncached = cache && plain ? await score(plain.images) : undefined;
    o.onProgress?.({ phase: "metrics", done: o.n, total: o.n });
    if (o.save) {
      writeSafetensors(o.save, {
        images: { dtype: "U8", shape: [o.n, info.height, info.width, info.channels], data: run.images },
        labels: { dtype: "I64", shape: [o.n], data: BigInt64Array.from(labels, (v) => BigInt(v)) },
      });
    }
    return {
      fd, acc, psnr, ssim,
      macs: run.stats.macs,
      macsUncached: run.stats.macsUncached,
      wallMs: run.stats.wallMs,
      peakBytes: run.stats.peakBytes,
      blocksComputed: run.stats.blocksComputed,
      blocksReused: run.stats.blocksReused,
      cacheBytes: run.stats.cacheBytes,
      ...(uncached && plain ? { fdUncached: uncached.fd, accUncached: uncached.acc, wallMsUncached: plain.stats.wallMs } : {}),
      n: o.n, steps: o.steps, cfg: o.cfg, seedBase: o.seedBase, noise,
      ...(cache ? { cache: formatSpec(cache.toJSON()) } : {}),
      ...(guidance ? { guidance: formatSpec(guidance.toJSON()) } : {}),
    };
  } finally {
    await pipe.dispose();
    await classifier.dispose();
  }
}

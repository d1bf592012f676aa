// A quality meter over one fixture (shared/fixtures/glyphs/README.md, "The evaluation protocol"): loads the model's
// pipeline, the metric network and the real statistics once, then measures any number of guidance methods on the
// same seeds in one process — FD / ACC of the N generated images, their MACs and wall time, and PSNR / SSIM against
// another measured set (paired comparisons on the same noise: far tighter than the spread between seed sets).
// Block analysis, guidance tuning and the guidance sweep (docs/guidance.md) all measure through it; `ditto eval`
// keeps its own harness (src/eval/harness.ts) for the contract's one-line output.
import { rangeError } from "../errors.js";
import { readFixtureInfo } from "../io/ditJson.js";
import type { Guider } from "../guidance/guider.js";
import { Classifier, accuracy, accuracyByClass } from "../metrics/classifier.js";
import { batchFidelity } from "../metrics/fidelity.js";
import { featureStats, frechetParts, type FrechetParts, type GaussianStats } from "../metrics/frechet.js";
import type { NoiseKind } from "../noise/index.js";
import { Pipeline } from "../pipeline/pipeline.js";
import { classifierPath, loadRealStats } from "./fixture.js";
import { protocolLabels } from "./harness.js";

export interface MeasureOptions {
  n: number;
  steps: number;
  seedBase: number;
  noise?: NoiseKind;
  /** Samples per generate() call (default 100). */
  batchSize?: number;
  /** A cache policy for the run (`generate({ cache })`; docs/caching.md), e.g. "auto". */
  cache?: string;
  signal?: AbortSignal;
  onProgress?: (event: { done: number; total: number; step?: number; steps?: number }) => void;
}

export interface Measurement {
  fd: number;
  acc: number;
  /** FD's terms (mean shift, spreads, cross term): where the distance comes from. */
  fdParts: FrechetParts;
  /** Per-class ACC (index = label). */
  accPerClass: number[];
  /** u8 NHWC images of the run (for fidelity against another run and for grids). */
  images: Uint8Array;
  macs: number;
  forwards: number;
  /** Blocks a cache policy reused (0 without one). */
  blocksReused: number;
  wallMs: number;
  n: number;
  steps: number;
  seedBase: number;
}

export class QualityMeter implements AsyncDisposable {
  readonly pipeline: Pipeline;
  readonly #classifier: Classifier;
  readonly #real: GaussianStats;
  readonly shape: { height: number; width: number; channels: number };
  readonly numClasses: number;

  private constructor(pipeline: Pipeline, classifier: Classifier, real: GaussianStats, info: ReturnType<typeof readFixtureInfo>) {
    this.pipeline = pipeline;
    this.#classifier = classifier;
    this.#real = real;
    this.shape = { height: info.height, width: info.width, channels: info.channels };
    this.numClasses = info.numClasses;
  }

  /** Opens a fixture folder (dit.json, dit.safetensors, classifier.onnx, real-stats.safetensors). */
  static async open(fixture: string, options: { threads?: number } = {}): Promise<QualityMeter> {
    const info = readFixtureInfo(fixture);
    const real = loadRealStats(fixture);
    const classifier = await Classifier.load(classifierPath(fixture), { threads: options.threads });
    try {
      const pipeline = await Pipeline.load({ kind: "class-conditional", model: fixture, threads: options.threads });
      return new QualityMeter(pipeline, classifier, real, info);
    } catch (e) {
      await classifier.dispose();
      throw e;
    }
  }

  /** FD / ACC / cost of `guidance` on samples seedBase … seedBase + n − 1 (labels floor(k·classes/n)). */
  async measure(guidance: Guider, o: MeasureOptions): Promise<Measurement> {
    if (!Number.isSafeInteger(o.n) || o.n < 1 || o.n % this.numClasses !== 0) throw rangeError(`positive multiple of ${this.numClasses}`, "n", o.n);
    const labels = protocolLabels(o.n, this.numClasses);
    const batchSize = o.batchSize ?? 100;
    const { height, width, channels } = this.shape;
    const images = new Uint8Array(o.n * height * width * channels);
    let macs = 0, forwards = 0, wallMs = 0, blocksReused = 0;
    for (let start = 0; start < o.n; start += batchSize) {
      const count = Math.min(batchSize, o.n - start);
      const out = await this.pipeline.generate({
        classLabels: labels.subarray(start, start + count),
        seed: o.seedBase + start,
        steps: o.steps,
        noise: o.noise ?? "philox",
        guidance,
        ...(o.cache !== undefined ? { cache: o.cache } : {}),
        signal: o.signal,
        onStep: (e) => o.onProgress?.({ done: start, total: o.n, step: e.step, steps: e.total }),
      });
      out.latents.dispose();
      out.images.forEach((img, k) => images.set(img.data, (start + k) * img.data.length));
      macs += out.stats.macs;
      forwards += out.stats.forwards;
      wallMs += out.stats.wallMs;
      blocksReused += out.stats.blocksReused;
      o.onProgress?.({ done: start + count, total: o.n });
    }
    const score = await this.score(images, o.n);
    return { ...score, images, macs, forwards, blocksReused, wallMs, n: o.n, steps: o.steps, seedBase: o.seedBase };
  }

  /**
   * FD (with its terms) and ACC, overall and per class, of n u8 NHWC images in the protocol's label order (labels
   * floor(k·classes/n)): the score of a set generated elsewhere, or post-processed.
   */
  async score(images: Uint8Array, n: number): Promise<Pick<Measurement, "fd" | "fdParts" | "acc" | "accPerClass">> {
    if (!Number.isSafeInteger(n) || n < 2 || n % this.numClasses !== 0) throw rangeError(`multiple of ${this.numClasses} of at least 2`, "n", n);
    const { height, width, channels } = this.shape;
    if (!(images instanceof Uint8Array) || images.length !== n * height * width * channels) {
      throw rangeError(`${n}×${height}×${width}×${channels} u8 values`, "images.length", (images as Uint8Array | undefined)?.length);
    }
    const labels = protocolLabels(n, this.numClasses);
    const scored = await this.#classifier.classify(images, n, height, width, channels);
    const fdParts = frechetParts(featureStats(scored.features, n, scored.featureDim), this.#real);
    const acc = accuracy(scored.logits, scored.numClasses, labels);
    const accPerClass = accuracyByClass(scored.logits, scored.numClasses, labels);
    return { fd: fdParts.fd, fdParts, acc, accPerClass };
  }

  /** Mean PSNR (dB) / SSIM of one measured set against another on the same seeds. */
  fidelity(a: Measurement, b: Measurement): { psnr: number; ssim: number } {
    if (a.n !== b.n || a.seedBase !== b.seedBase) throw rangeError(`a measurement on the same ${a.n} seeds from ${a.seedBase}`, "b", `${b.n} from ${b.seedBase}`);
    return batchFidelity(a.images, b.images, a.n, this.shape);
  }

  async dispose(): Promise<void> {
    await this.pipeline.dispose();
    await this.#classifier.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

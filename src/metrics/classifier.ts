// The metric network of a quality fixture (shared/fixtures/glyphs/classifier.json): a small CNN exported to ONNX with
// outputs `features` (fc1, 128-d, pre-ReLU: FD) and `logits` (fc2: ACC). Run through onnxruntime-node, an optional
// peer dependency loaded on first use so that the library itself never needs it. Input: u8 NHWC images, converted
// as the fixture prescribes (x = u8/127.5 − 1 in float32, NCHW).
import { DittoError } from "../errors.js";
import { uint8ToUnitRange } from "../images/quantize.js";
import { capThreads } from "../threads.js";

export interface ClassifierOutput {
  count: number;
  featureDim: number;
  numClasses: number;
  /** [count, featureDim] row-major. */
  features: Float32Array;
  /** [count, numClasses] row-major. */
  logits: Float32Array;
}

// The parts of onnxruntime-node's API used here (it is optional, so its types are not imported).
interface OrtTensor { data: unknown; dims: readonly number[] }
interface OrtSession {
  inputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release?(): Promise<void>;
}
interface OrtModule {
  Tensor: new (type: "float32", data: Float32Array, dims: number[]) => OrtTensor;
  InferenceSession: { create(path: string, options?: Record<string, unknown>): Promise<OrtSession> };
}

let ortPromise: Promise<OrtModule> | undefined;

/** Loads onnxruntime-node, or fails with a DittoError that says how to install it. */
export async function loadOnnxRuntime(): Promise<OrtModule> {
  ortPromise ??= import("onnxruntime-node").then(
    (m) => ((m as { default?: OrtModule }).default ?? m) as unknown as OrtModule,
    (e: unknown) => {
      ortPromise = undefined;
      throw new DittoError(
        "ERR_MODEL_LOAD",
        "The quality metrics need onnxruntime-node (an optional peer dependency): run `npm install onnxruntime-node`" +
          ` (loading it failed: ${(e as Error).message})`,
        { cause: e },
      );
    },
  );
  return ortPromise;
}

export class Classifier {
  private constructor(private readonly ort: OrtModule, private readonly session: OrtSession, readonly path: string) {}

  static async load(onnxPath: string, options: { threads?: number } = {}): Promise<Classifier> {
    const ort = await loadOnnxRuntime();
    let session: OrtSession;
    try {
      session = await ort.InferenceSession.create(onnxPath, {
        intraOpNumThreads: capThreads(options.threads, "options.threads") ?? 0,
        interOpNumThreads: 1,
      });
    } catch (e) {
      throw new DittoError("ERR_MODEL_LOAD", `Cannot load classifier ${onnxPath}: ${(e as Error).message}`, { cause: e });
    }
    return new Classifier(ort, session, onnxPath);
  }

  /** Features and logits of `count` u8 NHWC images of size height×width×channels, in batches of `batchSize`. */
  async classify(imagesNHWC: Uint8Array, count: number, height: number, width: number, channels = 3, batchSize = 250): Promise<ClassifierOutput> {
    const size = height * width * channels;
    if (imagesNHWC.length !== count * size) {
      throw new RangeError(`Expected ${count * size} image values (${count}×${height}×${width}×${channels}) but received ${imagesNHWC.length}`);
    }
    const inputName = this.session.inputNames[0]!;
    const featureParts: Float32Array[] = [];
    const logitParts: Float32Array[] = [];
    let featureDim = 0, numClasses = 0;
    for (let start = 0; start < count; start += batchSize) {
      const n = Math.min(batchSize, count - start);
      const x = uint8ToUnitRange(imagesNHWC.subarray(start * size, (start + n) * size), n, height, width, channels);
      const result = await this.session.run({ [inputName]: new this.ort.Tensor("float32", x, [n, channels, height, width]) });
      const features = result.features, logits = result.logits;
      if (!features || !logits) {
        throw new DittoError("ERR_MODEL_LOAD", `Classifier ${this.path} must have outputs "features" and "logits"`);
      }
      featureDim = features.dims[1]!; numClasses = logits.dims[1]!;
      featureParts.push(Float32Array.from(features.data as Float32Array));
      logitParts.push(Float32Array.from(logits.data as Float32Array));
    }
    const join = (parts: Float32Array[]) => {
      const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
      let at = 0;
      for (const p of parts) { out.set(p, at); at += p.length; }
      return out;
    };
    return { count, featureDim, numClasses, features: join(featureParts), logits: join(logitParts) };
  }

  async dispose(): Promise<void> {
    await this.session.release?.();
  }
}

/** The class with the largest logit of sample k (the first on ties). */
function argmax(logits: Float32Array, numClasses: number, k: number): number {
  let best = 0;
  for (let c = 1; c < numClasses; c++) if (logits[k * numClasses + c]! > logits[k * numClasses + best]!) best = c;
  return best;
}

/** Share of images whose argmax logit equals their label. */
export function accuracy(logits: Float32Array, numClasses: number, labels: ArrayLike<number>): number {
  let correct = 0;
  for (let k = 0; k < labels.length; k++) if (argmax(logits, numClasses, k) === labels[k]) correct++;
  return correct / labels.length;
}

/** ACC among the samples of each label 0 … numClasses − 1 (NaN for a label no sample has). */
export function accuracyByClass(logits: Float32Array, numClasses: number, labels: ArrayLike<number>): number[] {
  const correct = new Array<number>(numClasses).fill(0), count = new Array<number>(numClasses).fill(0);
  for (let k = 0; k < labels.length; k++) {
    const y = labels[k]!;
    count[y]!++;
    if (argmax(logits, numClasses, k) === y) correct[y]!++;
  }
  return correct.map((c, y) => c / count[y]!);
}

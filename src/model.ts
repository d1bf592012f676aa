// loadModel() and Model: the raw network of one checkpoint (today the DiT family, both key layouts). Every forward
// is a Promise resolved from the model's own native job queue (one worker thread per model, so long forwards never
// starve libuv's pool and jobs on one model run in order).
//
// Error conventions (documented in README "Errors"): every Promise-returning method reports ALL failures as a
// rejection — bad arguments (TypeError/RangeError, checked here before the native call), use after dispose
// (DittoError ERR_DISPOSED), engine errors (DittoError with the mapped code) and aborts (DittoError named
// AbortError, code ERR_ABORTED). Synchronous members (config, macsPerSample, threads) throw. Rejections carry the
// caller's stack, captured before the native call.
import { CachePolicy } from "./cache/policy.js";
import { SessionCache } from "./cache/sessionCache.js";
import type { PolicySpec } from "./policySpec.js";
import { linkAbortSignal } from "./abortLink.js";
import { toFloat32 } from "./batchArgs.js";
import { brandClass } from "./brand.js";
import { chooseDevice, type DeviceName, type DeviceSpec } from "./device.js";
import { backstop, forget } from "./lifecycle.js";
import { DittoError, abortError, disposedError, rangeError, typeError, withCallerStack } from "./errors.js";
import {
  callNative,
  native,
  toDittoError,
  type NativeBlockAction,
  type NativeForwardOptions,
  type NativeForwardResult,
  type NativeModel,
  type NativeModelConfig,
} from "./native.js";
import { checkConditions, checkModelInput, splitConditions, type Labels, type ModelConditions, type ModelInfo } from "./modelInputs.js";
import { Session } from "./session.js";
import { storedWeightsDType, weightsFile } from "./io/checkpointDType.js";
import { Tensor } from "./tensor.js";
import { capThreads, MAX_THREADS } from "./threads.js";

export type ModelDType = "f32" | "bf16";

/** The weights file names the engine prefers in a model folder (resolve_model_files). */
const MODEL_WEIGHTS = ["model.safetensors", "dit.safetensors"] as const;

export interface LoadModelOptions {
  /** Worker threads for this model's kernels (default: the machine's cores, or DITTO_NUM_THREADS). A request above
   * the cores available to the process is capped there, with a process warning (code DITTO_THREADS_CAPPED). */
  threads?: number;
  /** Weights' dtype: 'f32' (reference) or 'bf16' (half the weight memory where the CPU has bf16 GEMMs, faster, ~1e-2
   * relative). Default: the checkpoint's — a bf16 checkpoint stays bf16, others are f32 (src/io/checkpointDType.ts);
   * 'f32' widens a bf16 checkpoint. model.dtype says which was used. */
  dtype?: ModelDType;
  /** 'auto' (default), 'cpu', 'cuda' or 'cuda:N'. An explicit CUDA request that cannot be honoured rejects with
   * DittoError ERR_CUDA saying why; 'auto' records its reason in model.deviceReason. */
  device?: DeviceSpec;
  /** Reject a checkpoint with NaN/Inf in any floating-point tensor (ERR_MODEL_LOAD naming it). Default true; the
   * check is one vectorised pass over the weights. */
  checkFinite?: boolean;
}

/** The checkpoint's constructor kwargs (as written in its JSON) plus the engine's normalised fields. */
export interface ModelConfig extends Omit<NativeModelConfig, "kwargsJson" | "inputs" | "conditions" | "outputs" | "blockLists"> {
  [kwarg: string]: unknown;
}

export interface ForwardDetailedOptions {
  /** Return named intermediates (reference module paths, e.g. "blocks.0.out"). */
  capture?: boolean;
  /** Blocks replaced by the identity (h_out = h_in). */
  skipBlocks?: readonly number[];
  /** Per-block scale α: h_out = h_in + α·(block(h_in) − h_in). */
  blockScales?: Readonly<Record<number, number>>;
  /** Aborting rejects with DittoError AbortError / ERR_ABORTED (checked between blocks). */
  signal?: AbortSignal;
}

export interface ForwardDetailedResult {
  out: Tensor;
  intermediates: Record<string, Tensor>;
}

function checkLoadOptions(options: unknown): LoadModelOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object") throw typeError("object", "options", options);
  const { threads, dtype, device, checkFinite } = options as LoadModelOptions;
  if (threads !== undefined && (!Number.isSafeInteger(threads) || threads < 1 || threads > MAX_THREADS)) {
    throw rangeError(`integer between 1 and ${MAX_THREADS}`, "options.threads", threads);
  }
  if (dtype !== undefined && dtype !== "f32" && dtype !== "bf16") throw typeError("'f32' or 'bf16'", "options.dtype", dtype);
  if (checkFinite !== undefined && typeof checkFinite !== "boolean") throw typeError("boolean", "options.checkFinite", checkFinite);
  return { threads: capThreads(threads, "options.threads"), dtype, device, checkFinite };
}

/**
 * Loads a model from a folder (model.safetensors / dit.safetensors / the single *.safetensors, with config.json or
 * dit.json beside it) or from a .safetensors file (its JSON config beside it).
 */
export async function loadModel(path: string, options?: LoadModelOptions): Promise<Model> {
  const callSite = new Error();
  if (typeof path !== "string" || path.length === 0) throw typeError("non-empty string", "path", path);
  const checked = checkLoadOptions(options);
  try {
    const choice = chooseDevice(checked.device ?? "auto", "options.device");
    const dtype = checked.dtype ?? storedWeightsDType(weightsFile(path, MODEL_WEIGHTS)) ?? "f32";
    const handle = await native().loadModel(path, { threads: checked.threads, dtype, device: choice.device, checkFinite: checked.checkFinite });
    const model = new Model(handle, path, dtype);
    model.deviceReason = choice.reason;
    return model;
  } catch (e) {
    throw withCallerStack(toDittoError(e) as Error, callSite.stack);
  }
}

export class Model implements AsyncDisposable, Disposable {
  #native: NativeModel | undefined;
  readonly #config: ModelConfig;
  readonly #info: ModelInfo;
  readonly path: string;
  readonly dtype: ModelDType;
  /** The device the model actually runs on, as the engine loaded it ('cpu' or 'cuda:N'). */
  readonly device: DeviceName;
  /** Why 'auto' chose this device (empty when the device was explicit). */
  deviceReason = "";

  /** @internal use loadModel() */
  constructor(handle: NativeModel, path: string, dtype: ModelDType) {
    this.#native = handle;
    backstop(this, "models", handle);
    this.device = handle.device() as DeviceName;
    this.path = path;
    this.dtype = dtype;
    const raw: NativeModelConfig = handle.config();
    let kwargs: Record<string, unknown> = {};
    try {
      kwargs = JSON.parse(raw.kwargsJson) as Record<string, unknown>;
    } catch {
      // the engine always re-serialises valid JSON; keep the normalised fields regardless
    }
    const { kwargsJson: _kwargsJson, inputs, conditions, outputs, blockLists, ...normalised } = raw;
    this.#info = Object.freeze({ family: raw.family, layout: raw.layout, inputs, conditions, outputs, blockLists }) as ModelInfo;
    // The engine stores DiT's eps as float32; print the decimal the config meant (1e-6, not 9.99999997e-7). Other
    // families have other fields (model.info.family says which).
    for (const key of ["normEps", "ffNormEps"] as const) {
      if (typeof normalised[key] === "number") normalised[key] = Number(normalised[key].toPrecision(7));
    }
    this.#config = Object.freeze({ ...kwargs, ...normalised }) as ModelConfig;
  }

  get config(): ModelConfig {
    this.#live();
    return this.#config;
  }

  /** What the model takes and returns (inputs, conditions with their shapes, outputs) and its block lists. */
  get info(): ModelInfo {
    this.#live();
    return this.#info;
  }

  get disposed(): boolean {
    return this.#native === undefined;
  }

  /** Kernel threads this model uses. */
  get threads(): number {
    return callNative(() => this.#live().threads());
  }

  /** Native bytes this model holds now: weights, tables and the workspace of the largest batch run so far. */
  get memoryBytes(): number {
    return callNative(() => this.#live().memoryBytes());
  }

  /**
   * A generation's state (stored residuals across steps); each session.step() runs branches with per-sample block
   * plans, the native signal reductions and an optional guidance epilogue as one native job.
   */
  session(options?: { cache?: CachePolicy | PolicySpec | string; steps?: number }): Session {
    const c = this.#config;
    const depth = this.#info.blockLists.reduce((n, l) => n + l.count, 0);
    // With a cache policy each step() is the next of `steps` sampling steps (src/cache/sessionCache.ts).
    const policy = options?.cache === undefined ? undefined : CachePolicy.from(options.cache);
    const cache = policy && policy.kind !== "none" ? new SessionCache(policy, options!.steps as number, depth) : undefined;
    const handle = callNative(() => this.#live().session());
    return new Session(handle, { modelDisposed: () => this.disposed, depth, info: this.#info, exactInput: this.#exactInput(), numClasses: c.numClasses }, cache);
  }

  /**
   * A copy of a host tensor on this model's device: on 'cuda:N' a device tensor (one host→device copy) whose forward
   * outputs, session steps and arithmetic stay on the GPU until toFloat32Array(); on 'cpu' a host copy. Throws
   * ERR_INVALID_ARGUMENT for a tensor that is already on a device (docs/cuda.md, "Device tensors").
   */
  toDevice(tensor: Tensor): Tensor {
    if (!(tensor instanceof Tensor)) throw typeError("Tensor", "tensor", tensor);
    const handle = tensor._handle("tensor");
    return Tensor._wrap(callNative(() => this.#live().upload(handle)));
  }

  /** Multiply-accumulates of one forward of one sample ({ total, prelude, blocks, final }). */
  macsPerSample(): { total: number; prelude: number; blocks: number; final: number } {
    return callNative(() => this.#live().macsPerSample());
  }

  /**
   * One call of the raw network. x [B, C, H, W]; t [B] the network's own timestep input (float); conditions: the
   * labels [B] in [0, numClasses] (numClasses = the null class) of a label-conditioned model, or an object
   * { labels?, [name]: Tensor } with the condition tensors model.info.conditions names (batch first). Resolves to
   * [B, outChannels, H, W].
   */
  async forward(x: Tensor, t: Float32Array | number[], conditions: Labels | ModelConditions): Promise<Tensor> {
    const callSite = new Error();
    const { out } = await this.#run(callSite, x, t, conditions, {}, undefined);
    return out;
  }

  /** forward() with intermediates, block skips/scales and an AbortSignal (used by verify and the pipeline). */
  async forwardDetailed(
    x: Tensor,
    t: Float32Array | number[],
    conditions: Labels | ModelConditions,
    options: ForwardDetailedOptions = {},
  ): Promise<ForwardDetailedResult> {
    const callSite = new Error();
    return this.#run(callSite, x, t, conditions, options, undefined);
  }

  /**
   * Official DiT forward_with_cfg: x is the 2N batch (only x[:N] is used), labels = [cond (N), null (N)], guidance
   * `uncond + scale·(cond − uncond)` on the first `guidedChannels` output channels (official: 3), the other channels
   * are the raw per-half outputs.
   */
  async forwardWithCfg(
    x: Tensor,
    t: Float32Array | number[],
    conditions: Labels | ModelConditions,
    scale: number,
    guidedChannels = 3,
    options: ForwardDetailedOptions = {},
  ): Promise<Tensor> {
    const callSite = new Error();
    const { out } = await this.#run(callSite, x, t, conditions, options, { scale, guidedChannels });
    return out;
  }

  /** Releases the weights (idempotent). Forwards already queued still complete; later calls reject ERR_DISPOSED. */
  dispose(): void {
    if (!this.#native) return;
    forget(this);
    this.#native.dispose();
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  /** The input shape the engine needs when the spec leaves sizes free that the config fixes (DiT: inputSize). */
  #exactInput(): number[] | undefined {
    const c = this.#config;
    return typeof c.inChannels === "number" && typeof c.inputSize === "number" ? [-1, c.inChannels, c.inputSize, c.inputSize] : undefined;
  }

  #live(): NativeModel {
    if (!this.#native) throw disposedError("Model");
    return this.#native;
  }

  async #run(
    callSite: Error,
    x: Tensor,
    t: Float32Array | number[],
    conditions: unknown,
    options: ForwardDetailedOptions,
    cfg: { scale: number; guidedChannels: number } | undefined,
  ): Promise<ForwardDetailedResult> {
    try {
      const handle = this.#live();
      const c = this.#config;
      const batch = checkModelInput(this.#info, x, this.#exactInput());
      const tValues = toFloat32(t, "t", batch);
      const { labels, tensors } = splitConditions(conditions);
      const checked = checkConditions(this.#info, labels, tensors, batch, { labels: "labels", tensors: "conditions" }, c.numClasses);
      // One vectorised native pass: a NaN/Infinity input would only come back as a NaN output (issue 24).
      const nonFinite = (x as Tensor).countNonFinite();
      if (nonFinite > 0) throw new RangeError(`Expected finite values for x but received ${nonFinite} NaN or infinite values`);
      const request: NativeForwardOptions = this.#blockOptions(options);
      if (checked.tensors) request.conditions = checked.tensors;
      if (cfg) {
        if (typeof cfg.scale !== "number" || !Number.isFinite(cfg.scale)) throw typeError("finite number", "scale", cfg.scale);
        if (!Number.isInteger(cfg.guidedChannels) || cfg.guidedChannels < 0 || cfg.guidedChannels > c.outChannels) {
          throw rangeError(`integer between 0 and ${c.outChannels}`, "guidedChannels", cfg.guidedChannels);
        }
        if (batch % 2 !== 0) throw rangeError("an even batch (2N: conditional half, then unconditional half)", "x.shape[0]", batch);
        request.cfgScale = cfg.scale;
        request.guidedChannels = cfg.guidedChannels;
      }
      const link = linkAbortSignal(options.signal, "options.signal");
      if (link.flag) request.abort = link.flag;
      let result: NativeForwardResult;
      try {
        result = await handle.forward((x as Tensor)._handle("x"), tValues, checked.labels, request);
      } finally {
        link.release();
      }
      const intermediates: Record<string, Tensor> = {};
      for (const [name, value] of Object.entries(result.intermediates)) intermediates[name] = Tensor._wrap(value);
      return { out: Tensor._wrap(result.out), intermediates };
    } catch (e) {
      const error = toDittoError(e);
      if (error instanceof DittoError && error.code === "ERR_ABORTED" && options.signal?.reason !== undefined && error.cause === undefined) {
        const withCause = abortError(error.message, options.signal.reason);
        throw withCallerStack(withCause, callSite.stack);
      }
      throw withCallerStack(error as Error, callSite.stack);
    }
  }

  #blockOptions(options: ForwardDetailedOptions): NativeForwardOptions {
    if (options === null || typeof options !== "object") throw typeError("object", "options", options);
    const depth = this.#config.depth;
    const { capture, skipBlocks, blockScales } = options;
    if (capture !== undefined && typeof capture !== "boolean") throw typeError("boolean", "options.capture", capture);
    const request: NativeForwardOptions = { capture: capture === true };
    if (skipBlocks === undefined && blockScales === undefined) return request;
    const actions: NativeBlockAction[] = Array.from({ length: depth }, () => ({ kind: "compute" }));
    if (skipBlocks !== undefined) {
      if (!Array.isArray(skipBlocks)) throw typeError("number[]", "options.skipBlocks", skipBlocks);
      skipBlocks.forEach((b, i) => {
        if (!Number.isInteger(b) || b < 0 || b >= depth) throw rangeError(`integer between 0 and ${depth - 1}`, `options.skipBlocks[${i}]`, b);
        actions[b] = { kind: "skip" };
      });
    }
    if (blockScales !== undefined) {
      if (blockScales === null || typeof blockScales !== "object") throw typeError("object", "options.blockScales", blockScales);
      for (const [key, alpha] of Object.entries(blockScales)) {
        const b = Number(key);
        if (!Number.isInteger(b) || b < 0 || b >= depth) throw rangeError(`block index between 0 and ${depth - 1}`, "options.blockScales key", key);
        if (typeof alpha !== "number" || !Number.isFinite(alpha)) throw typeError("finite number", `options.blockScales[${b}]`, alpha);
        if (actions[b]!.kind === "skip") throw rangeError("a block that is not also skipped", `options.blockScales[${b}]`, alpha);
        actions[b] = { kind: "scale", alpha };
      }
    }
    request.blocks = actions;
    return request;
  }
}

brandClass(Model, "Model");

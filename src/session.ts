// Session: the state of one generation on a model (model.session()). Each step(x, t, request) is ONE native job:
// it runs the step's branches (e.g. conditional / unconditional / weak) with per-branch, per-sample block plans
// — compute, skip, scale(α), perturbAttention (self-attention output = V), reuse / forecast a stored residual
// span, store one — returns the signal reductions (relative L1 changes, first-block-cache distances) per sample,
// and optionally combines the branches with a linear epilogue (guided = Σ w_b·out_b, or from an anchor branch in
// combineBranches' float order; next = a·x + c·guided + Σ d_j·extra_j) so a sampling step does no O(batch) math on the JS thread. Branches with equal inputs share
// their common block prefix natively. Stored residuals live in native memory, keyed by (branch key, sample,
// block span); end(), an aborted step and dispose() free them (slotBytes back to 0).
// Arguments are checked here with the house messages; every failure of step()/end() is a rejection.
import { linkAbortSignal } from "./abortLink.js";
import { toFloat32 } from "./batchArgs.js";
import { DittoError, abortError, disposedError, rangeError, shapeError, typeError, withCallerStack } from "./errors.js";
import {
  toDittoError,
  type NativeBlockAction,
  type NativeFirstBlockCache,
  type NativeSession,
  type NativeStepBranch,
  type NativeStepRequest,
} from "./native.js";
import { checkConditions, checkModelInput, type ModelInfo } from "./modelInputs.js";
import { Tensor } from "./tensor.js";
import type { SessionCache } from "./cache/sessionCache.js";

/** What one block does for one sample of one branch. storeEnd: also keep the residual of blocks [this, storeEnd). */
export type SessionBlockAction = (
  | { kind: "compute" }
  | { kind: "skip" }
  | { kind: "scale"; alpha: number }
  | { kind: "perturbAttention" }
  | { kind: "reuse"; spanEnd: number }
  | { kind: "forecast"; spanEnd: number }
) & { storeEnd?: number };

export interface SessionBranch {
  /** Slot key across steps (default: the branch's index). */
  key?: string;
  /** Class labels of the B samples (numClasses = unconditional), for a label-conditioned model. */
  labels?: Int32Array | readonly number[];
  /** Condition tensors by the names in model.info.conditions (batch first), for the other families. */
  conditions?: Readonly<Record<string, Tensor>>;
  /** One plan (every sample) or one per sample; each has one action per block. Default: compute every block. */
  actions?: readonly SessionBlockAction[] | readonly (readonly SessionBlockAction[])[];
  /** Per sample: relative-L1 change of a block's input or residual vs this branch's previous one; or, where the
   * sample stores the span [block, end) this step, the error of what reuse (order 0) / forecast (order 1, default)
   * would have added (`forecastError`) or the L2 norm of the new residual (`residualNorm`). */
  signals?: readonly SessionSignal[];
  /** First-Block Cache decided natively after blocks [0, probeEnd) (default probeEnd 1), see FirstBlockCacheRule. */
  firstBlockCache?: FirstBlockCacheOptions;
}

export type SessionSignal =
  | { block: number; kind: "input" | "residual" }
  | { block: number; kind: "forecastError"; end: number; order?: 0 | 1 }
  | { block: number; kind: "residualNorm"; end: number };

/** The native online cache rule (native/include/ditto/executor.h, FirstBlockCacheRule): d = relative L1 change of the
 * probe (the residual of blocks [0, probeEnd), or block 0's input with probe 'input' and probeEnd 0); a sample reuses
 * the stored residual of [probeEnd, restEnd) when accumulated[s] + scale[s]·poly(d) < threshold. */
export interface FirstBlockCacheOptions {
  threshold: number;
  probeEnd?: number;
  probe?: "residual" | "input";
  restEnd?: number;
  /** Polynomial of d, highest power first (default: d itself). */
  coefficients?: readonly number[];
  accumulated?: readonly number[];
  scale?: readonly number[];
}

export interface SessionStepRequest {
  branches: readonly SessionBranch[];
  /** guided = Σ branchWeights[b]·out_b; next = a·x + c·guided + Σ extraWeights[j]·extras[j]. With `anchor` (a
   * branch index) guided = out_anchor + Σ_{b≠anchor} branchWeights[b]·(out_b − out_anchor) in combineBranches'
   * float32 order (src/guidance/guider.ts), bit for bit; branchWeights[anchor] is then not used. */
  epilogue?: {
    branchWeights: readonly number[];
    anchor?: number;
    a: number;
    c: number;
    extras?: readonly Tensor[];
    extraWeights?: readonly number[];
  };
  /** Also return each branch's output (default true). */
  returnBranchOutputs?: boolean;
  /** Share common block prefixes between branches with equal inputs (default true; false for measurements). */
  sharePrefixes?: boolean;
  /** Cap on the session's stored bytes: a store past it frees its slot and a reuse of a missing span computes it. */
  cacheBudgetBytes?: number;
  /** With an epilogue: count NaN / ±Infinity values of `next` inside the step job (result.nextNonFinite), so a
   * per-step finiteness check costs the JS thread no wait (on a GPU: one reduction on the model's stream). */
  countNonFinite?: boolean;
  signal?: AbortSignal;
}

export interface SessionStepResult {
  branchOutputs: Tensor[];
  guided?: Tensor;
  next?: Tensor;
  /** Per branch: signals[k·B + s] for its k-th signal request, then the first-block-cache distance (B values). */
  signals: Float32Array[];
  /** Per branch and sample: 1 when the first-block cache reused the rest of the blocks. */
  cacheHits: Uint8Array[];
  macs: number;
  macsUncached: number;
  /** Bytes of stored residuals after this step. */
  slotBytes: number;
  /** Block kernel runs and blocks replaced by a stored residual, summed over branches and samples. */
  blocksComputed: number;
  blocksReused: number;
  /** NaN / ±Infinity values in `next` (when countNonFinite was requested with an epilogue). */
  nextNonFinite?: number;
}

/** What Session needs of its model (kept structural so session.ts does not import model.ts). */
export interface SessionModelInfo {
  /** True once the model is disposed (its job queue is closed: steps reject with ERR_DISPOSED). */
  modelDisposed: () => boolean;
  depth: number;
  info: ModelInfo;
  /** The input shape the engine needs where info leaves sizes free (see checkModelInput). */
  exactInput: readonly number[] | undefined;
  numClasses: number;
}

function checkAction(a: unknown, name: string, block: number, depth: number): NativeBlockAction {
  if (a === null || typeof a !== "object") throw typeError("block action object", name, a);
  const { kind, alpha, spanEnd, storeEnd } = a as { kind?: unknown; alpha?: unknown; spanEnd?: unknown; storeEnd?: unknown };
  const out: NativeBlockAction = { kind: "compute" };
  switch (kind) {
    case "compute":
    case "skip":
    case "perturbAttention":
      out.kind = kind;
      break;
    case "scale":
      if (typeof alpha !== "number" || !Number.isFinite(alpha)) throw typeError("finite number", `${name}.alpha`, alpha);
      out.kind = kind;
      out.alpha = alpha;
      break;
    case "reuse":
    case "forecast":
      if (!Number.isInteger(spanEnd) || (spanEnd as number) <= block || (spanEnd as number) > depth) {
        throw rangeError(`integer between ${block + 1} and ${depth}`, `${name}.spanEnd`, spanEnd);
      }
      out.kind = kind;
      out.spanEnd = spanEnd as number;
      break;
    default:
      throw typeError("'compute', 'skip', 'scale', 'perturbAttention', 'reuse' or 'forecast'", `${name}.kind`, kind);
  }
  if (storeEnd !== undefined) {
    if (!Number.isInteger(storeEnd) || (storeEnd as number) <= block || (storeEnd as number) > depth) {
      throw rangeError(`integer between ${block + 1} and ${depth}`, `${name}.storeEnd`, storeEnd);
    }
    out.storeEnd = storeEnd as number;
  }
  return out;
}

function checkFirstBlockCache(f: FirstBlockCacheOptions, name: string, depth: number, batch: number): NativeFirstBlockCache {
  if (f === null || typeof f !== "object") throw typeError("object", name, f);
  const { threshold, probe = "residual" } = f;
  if (typeof threshold !== "number" || !Number.isFinite(threshold) || threshold < 0) {
    throw rangeError("finite number >= 0", `${name}.threshold`, threshold);
  }
  if (probe !== "residual" && probe !== "input") throw typeError("'residual' or 'input'", `${name}.probe`, probe);
  const probeEnd = f.probeEnd ?? (probe === "input" ? 0 : 1);
  if (probe === "input" ? probeEnd !== 0 : !Number.isInteger(probeEnd) || probeEnd < 1 || probeEnd >= depth) {
    throw rangeError(probe === "input" ? "0 (an input probe)" : `integer between 1 and ${depth - 1}`, `${name}.probeEnd`, probeEnd);
  }
  const restEnd = f.restEnd ?? depth;
  if (!Number.isInteger(restEnd) || restEnd <= probeEnd || restEnd > depth) {
    throw rangeError(`integer between ${probeEnd + 1} and ${depth}`, `${name}.restEnd`, restEnd);
  }
  const numbers = (v: readonly number[] | undefined, key: string, length?: number): number[] | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || (length !== undefined && v.length !== length)) {
      throw rangeError(length === undefined ? "array of numbers" : `${length} numbers (one per sample)`, `${name}.${key}`, v);
    }
    v.forEach((x, i) => {
      if (typeof x !== "number" || Number.isNaN(x)) throw typeError("number", `${name}.${key}[${i}]`, x);
    });
    return [...v];
  };
  const out: NativeFirstBlockCache = { threshold, probeEnd, restEnd, probe };
  const coefficients = numbers(f.coefficients, "coefficients");
  if (coefficients) out.coefficients = coefficients;
  const accumulated = numbers(f.accumulated, "accumulated", batch);
  if (accumulated) out.accumulated = accumulated;
  const scale = numbers(f.scale, "scale", batch);
  if (scale) out.scale = scale;
  return out;
}

function checkPlan(plan: unknown, name: string, depth: number): NativeBlockAction[] {
  if (!Array.isArray(plan)) throw typeError("array of block actions", name, plan);
  if (plan.length !== depth) throw new RangeError(`Expected ${depth} block actions (one per block) for ${name} but received ${plan.length}`);
  return plan.map((a, i) => checkAction(a, `${name}[${i}]`, i, depth));
}

export class Session implements AsyncDisposable, Disposable {
  #native: NativeSession | undefined;
  readonly #info: SessionModelInfo;
  readonly #cache: SessionCache | undefined;

  /** @internal use model.session() */
  constructor(handle: NativeSession, info: SessionModelInfo, cache?: SessionCache) {
    this.#native = handle;
    this.#info = info;
    this.#cache = cache;
  }

  get disposed(): boolean {
    return this.#native === undefined;
  }

  /** Bytes of native memory held by this generation's stored residuals. */
  get slotBytes(): number {
    return this.#native ? this.#native.slotBytes() : 0;
  }

  async step(x: Tensor, t: Float32Array | readonly number[], request: SessionStepRequest): Promise<SessionStepResult> {
    const callSite = new Error();
    try {
      const handle = this.#live();
      const info = this.#info;
      const batch = checkModelInput(info.info, x, info.exactInput);
      const shape = x.shape;
      const tValues = toFloat32(t, "t", batch);
      if (request === null || typeof request !== "object") throw typeError("object", "request", request);
      if (this.#cache && Array.isArray(request.branches)) request = this.#cache.plan(request, batch, tValues[0]!);
      if (!Array.isArray(request.branches) || request.branches.length === 0) {
        throw typeError("non-empty array", "request.branches", request.branches);
      }
      const depth = info.depth;
      const branches: NativeStepBranch[] = request.branches.map((b, i) => {
        const name = `request.branches[${i}]`;
        if (b === null || typeof b !== "object") throw typeError("object", name, b);
        const checked = checkConditions(info.info, b.labels, b.conditions, batch, { labels: `${name}.labels`, tensors: `${name}.conditions` }, info.numClasses);
        const out: NativeStepBranch = {};
        if (checked.labels) out.labels = checked.labels;
        if (checked.tensors) out.conditions = checked.tensors;
        if (b.key !== undefined) {
          if (typeof b.key !== "string") throw typeError("string", `${name}.key`, b.key);
          out.key = b.key;
        }
        if (b.actions !== undefined) {
          const a = b.actions as unknown[];
          const perSample = Array.isArray(a) && a.length > 0 && Array.isArray(a[0]);
          if (perSample) {
            if (a.length !== batch) throw new RangeError(`Expected ${batch} plans (one per sample) for ${name}.actions but received ${a.length}`);
            out.actions = a.map((p, s) => checkPlan(p, `${name}.actions[${s}]`, depth));
          } else {
            out.actions = [checkPlan(a, `${name}.actions`, depth)];
          }
        }
        if (b.signals !== undefined) {
          if (!Array.isArray(b.signals)) throw typeError("array", `${name}.signals`, b.signals);
          out.signals = (b.signals as SessionBranch["signals"] & object).map((sig, k) => {
            if (!Number.isInteger(sig?.block) || sig.block < 0 || sig.block >= depth) {
              throw rangeError(`integer between 0 and ${depth - 1}`, `${name}.signals[${k}].block`, sig?.block);
            }
            if (sig.kind === "forecastError" || sig.kind === "residualNorm") {
              if (!Number.isInteger(sig.end) || sig.end <= sig.block || sig.end > depth) {
                throw rangeError(`integer between ${sig.block + 1} and ${depth}`, `${name}.signals[${k}].end`, sig.end);
              }
              const order = sig.kind === "forecastError" ? sig.order ?? 1 : 1;
              if (order !== 0 && order !== 1) throw rangeError("0 or 1", `${name}.signals[${k}].order`, order);
              return { block: sig.block, kind: sig.kind, end: sig.end, order };
            }
            if (sig.kind !== "input" && sig.kind !== "residual") {
              throw typeError("'input', 'residual', 'forecastError' or 'residualNorm'", `${name}.signals[${k}].kind`, (sig as { kind: unknown }).kind);
            }
            return { block: sig.block, kind: sig.kind };
          });
        }
        if (b.firstBlockCache !== undefined) out.firstBlockCache = checkFirstBlockCache(b.firstBlockCache, `${name}.firstBlockCache`, depth, batch);
        return out;
      });
      const native_: NativeStepRequest = { branches };
      if (request.epilogue !== undefined) {
        const e = request.epilogue;
        if (e === null || typeof e !== "object") throw typeError("object", "request.epilogue", e);
        const finite = (v: unknown, n: string): number => {
          if (typeof v !== "number" || !Number.isFinite(v)) throw typeError("finite number", n, v);
          return v;
        };
        if (!Array.isArray(e.branchWeights) || e.branchWeights.length !== branches.length) {
          throw rangeError(`${branches.length} numbers (one per branch)`, "request.epilogue.branchWeights", e.branchWeights);
        }
        const extras = e.extras ?? [];
        const extraWeights = e.extraWeights ?? [];
        if (!Array.isArray(extras) || !Array.isArray(extraWeights) || extras.length !== extraWeights.length) {
          throw rangeError("as many extraWeights as extras", "request.epilogue.extraWeights", e.extraWeights);
        }
        if (e.anchor !== undefined && (!Number.isInteger(e.anchor) || e.anchor < 0 || e.anchor >= branches.length)) {
          throw rangeError(`integer between 0 and ${branches.length - 1}`, "request.epilogue.anchor", e.anchor);
        }
        native_.epilogue = {
          branchWeights: e.branchWeights.map((w, i) => finite(w, `request.epilogue.branchWeights[${i}]`)),
          ...(e.anchor !== undefined ? { anchor: e.anchor } : {}),
          a: finite(e.a, "request.epilogue.a"),
          c: finite(e.c, "request.epilogue.c"),
          extras: extras.map((tensor, j) => {
            if (!(tensor instanceof Tensor)) throw typeError("Tensor", `request.epilogue.extras[${j}]`, tensor);
            if (tensor.shape.join() !== shape.join()) throw shapeError(`shape [${shape.join(", ")}]`, `request.epilogue.extras[${j}]`, tensor.shape);
            return tensor._handle(`request.epilogue.extras[${j}]`);
          }),
          extraWeights: extraWeights.map((w, j) => finite(w, `request.epilogue.extraWeights[${j}]`)),
        };
      }
      if (request.returnBranchOutputs !== undefined) {
        if (typeof request.returnBranchOutputs !== "boolean") throw typeError("boolean", "request.returnBranchOutputs", request.returnBranchOutputs);
        native_.returnBranchOutputs = request.returnBranchOutputs;
      }
      if (request.sharePrefixes !== undefined) {
        if (typeof request.sharePrefixes !== "boolean") throw typeError("boolean", "request.sharePrefixes", request.sharePrefixes);
        native_.sharePrefixes = request.sharePrefixes;
      }
      if (request.countNonFinite !== undefined) {
        if (typeof request.countNonFinite !== "boolean") throw typeError("boolean", "request.countNonFinite", request.countNonFinite);
        native_.countNonFinite = request.countNonFinite;
      }
      if (request.cacheBudgetBytes !== undefined) {
        const v = request.cacheBudgetBytes;
        if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw rangeError("non-negative integer", "request.cacheBudgetBytes", v);
        native_.cacheBudgetBytes = v;
      }
      const link = linkAbortSignal(request.signal, "request.signal");
      if (link.flag) native_.abort = link.flag;
      try {
        const r = await handle.step(x._handle("x"), tValues, native_);
        const out: SessionStepResult = {
          branchOutputs: r.branchOutputs.map((o) => Tensor._wrap(o)),
          ...(r.guided ? { guided: Tensor._wrap(r.guided) } : {}),
          ...(r.next ? { next: Tensor._wrap(r.next) } : {}),
          signals: r.signals,
          cacheHits: r.cacheHits,
          macs: r.macs,
          macsUncached: r.macsUncached,
          slotBytes: r.slotBytes,
          blocksComputed: r.blocksComputed,
          blocksReused: r.blocksReused,
          ...(r.nextNonFinite !== undefined ? { nextNonFinite: r.nextNonFinite } : {}),
        };
        this.#cache?.observe(out);
        return out;
      } finally {
        link.release();
      }
    } catch (e) {
      const error = toDittoError(e);
      if (error instanceof DittoError && error.code === "ERR_ABORTED" && request?.signal?.reason !== undefined && error.cause === undefined) {
        throw withCallerStack(abortError(error.message, request.signal.reason), callSite.stack);
      }
      throw withCallerStack(error as Error, callSite.stack);
    }
  }

  /** Frees every stored residual once the steps already queued have run; later steps start from empty state. */
  async end(): Promise<void> {
    const callSite = new Error();
    try {
      await this.#live().end();
    } catch (e) {
      throw withCallerStack(toDittoError(e) as Error, callSite.stack);
    }
  }

  /** Ends the generation (its slots are freed after queued steps) and disposes the session. Idempotent. */
  dispose(): void {
    const handle = this.#native;
    this.#native = undefined;
    handle?.end().catch(() => {
      // the model was disposed first: its queue is closed; release() below frees the slots
    });
    // Without this the native session (its slots and its reference to the model) lived until garbage collection, so
    // a disposed model's weights outlived dispose() (issue 24). Queued jobs keep their own reference.
    handle?.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const handle = this.#native;
    this.#native = undefined;
    if (handle) {
      const ended = handle.end().catch(() => undefined);
      handle.release();
      await ended;
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #live(): NativeSession {
    if (!this.#native) throw disposedError("Session");
    if (this.#info.modelDisposed()) throw disposedError("Model");
    return this.#native;
  }
}

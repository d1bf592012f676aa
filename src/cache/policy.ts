// Cache policies as immutable objects (docs/caching.md; docs/architecture.md, "branches, blocks and plans"): what a
// user passes as `cache` and `--cache SPEC` parses into. toJSON() gives the plain policy object with every parameter
// resolved, and CachePolicy.fromJSON(toJSON()) gives an equal policy back. Each policy's rule lives in its own file;
// start() gives the per-generation CacheRun the pipeline (or a custom loop) asks for each step's plans.
import { typeError } from "../errors.js";
import { checkSpecObject, formatSpec, type PolicySpec } from "../policySpec.js";
import { autoParams, startAuto } from "./auto.js";
import { dbCacheParams, startDbCache } from "./dbCache.js";
import { deltaDitParams, startDeltaDit } from "./deltaDit.js";
import { easyCacheParams, startEasyCache } from "./easyCache.js";
import { firstBlockParams, startFirstBlock } from "./firstBlock.js";
import { foraParams, startFora } from "./fora.js";
import { magCacheParams, startMagCache } from "./magCache.js";
import type { CacheContext, CacheRun } from "./run.js";
import { CACHE_SPECS, parseCacheSpec } from "./specs.js";
import { startTaylorSeer, taylorSeerParams } from "./taylorSeer.js";
import { startTeaCache, teaCacheParams } from "./teaCache.js";

type Params = Record<string, number | number[] | string>;
type Rule = { params: (p: PolicySpec) => PolicySpec; start: (p: PolicySpec, ctx: CacheContext) => CacheRun };

const RULES: Readonly<Record<string, Rule>> = Object.freeze({
  fora: { params: foraParams, start: startFora },
  deltaDit: { params: deltaDitParams, start: startDeltaDit },
  teaCache: { params: teaCacheParams, start: startTeaCache },
  firstBlock: { params: firstBlockParams, start: startFirstBlock },
  dbCache: { params: dbCacheParams, start: startDbCache },
  taylorSeer: { params: taylorSeerParams, start: startTaylorSeer },
  magCache: { params: magCacheParams, start: startMagCache },
  easyCache: { params: easyCacheParams, start: startEasyCache },
  auto: { params: autoParams, start: startAuto },
});

const CUSTOM_RUNS = new WeakMap<CachePolicy, (ctx: CacheContext) => CacheRun>();

function freezeSpec(p: PolicySpec): PolicySpec {
  for (const v of Object.values(p)) if (Array.isArray(v)) Object.freeze(v);
  return Object.freeze(p);
}

export class CachePolicy {
  static #none: CachePolicy | undefined;
  readonly kind: string;
  readonly #spec: PolicySpec;

  private constructor(spec: PolicySpec) {
    this.kind = spec.kind;
    this.#spec = freezeSpec(spec);
    Object.freeze(this);
  }

  static #make(kind: string, params: object): CachePolicy {
    const spec = checkSpecObject({ ...params, kind }, "cache", CACHE_SPECS);
    if (spec.kind === "none") return CachePolicy.none();
    return new CachePolicy(RULES[spec.kind]!.params(spec));
  }

  /** No caching: every block computes at every step (bit-identical to no cache option). */
  static none(): CachePolicy {
    return (CachePolicy.#none ??= new CachePolicy({ kind: "none" }));
  }
  /** FORA: all blocks every `interval` steps (default 3), the stack's residual reused between. */
  static fora(params: { interval?: number; warmupSteps?: number } = {}): CachePolicy {
    return CachePolicy.#make("fora", params);
  }
  /** Δ-DiT: a block range's residual reused between full steps (rear half early, front half late by default). */
  static deltaDit(params: { interval?: number; blocks?: number[]; warmupSteps?: number } = {}): CachePolicy {
    return CachePolicy.#make("deltaDit", params);
  }
  /** TeaCache: accumulated poly(input change) below `threshold` reuses the stack's residual. */
  static teaCache(params: { threshold?: number; coefficients?: number[]; profile?: string; warmupSteps?: number } = {}): CachePolicy {
    return CachePolicy.#make("teaCache", params);
  }
  /** First-Block Cache: block 0's residual change below `threshold` reuses the rest. */
  static firstBlock(params: { threshold?: number; warmupSteps?: number; maxCachedSteps?: number } = {}): CachePolicy {
    return CachePolicy.#make("firstBlock", params);
  }
  /** DBCache: Fn front blocks probe, the middle is reused, Bn back blocks always run. */
  static dbCache(params: { frontBlocks?: number; backBlocks?: number; threshold?: number; warmupSteps?: number; maxCachedSteps?: number } = {}): CachePolicy {
    return CachePolicy.#make("dbCache", params);
  }
  /** TaylorSeer: full steps every `interval`, first-order forecasts between. */
  static taylorSeer(params: { order?: number; interval?: number; warmupSteps?: number } = {}): CachePolicy {
    return CachePolicy.#make("taylorSeer", params);
  }
  /** MagCache: a calibrated magnitude-ratio curve decides the schedule (needs `ratios` or a profile). */
  static magCache(params: { threshold?: number; maxSkipSteps?: number; retainRatio?: number; ratios?: number[]; profile?: string }): CachePolicy {
    return CachePolicy.#make("magCache", params ?? {});
  }
  /** EasyCache: the transformation rate measured online bounds the accumulated change. */
  static easyCache(params: { threshold?: number; warmupSteps?: number } = {}): CachePolicy {
    return CachePolicy.#make("easyCache", params);
  }
  /** Ditto's forecast-and-verify policy with step-size control within a relative `tolerance`. */
  static auto(params: { tolerance?: number; warmupSteps?: number; maxGap?: number } = {}): CachePolicy {
    return CachePolicy.#make("auto", params);
  }

  /** The policy for a cache option: a CachePolicy, a SPEC string or a plain policy object ({ kind, …params }). */
  static from(value: CachePolicy | PolicySpec | string): CachePolicy {
    if (value instanceof CachePolicy) return value;
    if (typeof value !== "string" && (value === null || typeof value !== "object")) {
      throw typeError("CachePolicy, SPEC string or { kind, …params } object", "cache", value);
    }
    const spec = typeof value === "string" ? parseCacheSpec(value) : checkSpecObject(value, "cache", CACHE_SPECS);
    const { kind, ...params } = spec;
    return CachePolicy.#make(kind, params);
  }

  /** The policy of a toJSON() result (or JSON.parse of one). */
  static fromJSON(value: PolicySpec): CachePolicy {
    return CachePolicy.from(value);
  }

  /** The plain policy object with every parameter resolved. */
  toJSON(): PolicySpec {
    const out: Params = {};
    for (const [k, v] of Object.entries(this.#spec)) if (k !== "kind") out[k] = Array.isArray(v) ? [...v] : v;
    return { kind: this.kind, ...out };
  }

  /** The canonical SPEC string. */
  toString(): string {
    return formatSpec(this.toJSON());
  }

  /** The run of one generation (undefined for `none`). */
  start(ctx: CacheContext): CacheRun | undefined {
    if (this.kind === "none") return undefined;
    const custom = CUSTOM_RUNS.get(this);
    return custom ? custom(ctx) : RULES[this.kind]!.start(this.#spec, ctx);
  }

  /** @internal A policy whose run is `start` (ditto calibrate's recorder); not a SPEC, not for users. */
  static _withRun(name: string, start: (ctx: CacheContext) => CacheRun): CachePolicy {
    const policy = new CachePolicy({ kind: name });
    CUSTOM_RUNS.set(policy, start);
    return policy;
  }
}

// Cache policies as immutable objects (docs/architecture.md, "branches, blocks and plans"): what a user passes as `cache` and `--cache SPEC` parses
// into; toJSON() gives the plain policy object and CachePolicy.from(toJSON()) gives an equal policy back. The
// engine runs only `none` today (every block computes at every step); every other policy in CACHE_SPECS parses
// and is then refused with a clear error, never silently run without caching. The cache issue adds the policies
// and the plans they produce from the native signals.
import { typeError } from "../errors.js";
import { checkSpecObject, formatSpec, type PolicySpec } from "../policySpec.js";
import { CACHE_SPECS, parseCacheSpec } from "./specs.js";

export class CachePolicy {
  static #none: CachePolicy | undefined;
  readonly kind: "none";

  private constructor(kind: "none") {
    this.kind = kind;
    Object.freeze(this);
  }

  /** No caching: every block computes at every step. */
  static none(): CachePolicy {
    return (CachePolicy.#none ??= new CachePolicy("none"));
  }

  /** The policy for a cache option: a CachePolicy, a SPEC string or a plain policy object ({ kind, …params }). */
  static from(value: CachePolicy | PolicySpec | string): CachePolicy {
    if (value instanceof CachePolicy) return value;
    if (typeof value !== "string" && (value === null || typeof value !== "object")) {
      throw typeError("CachePolicy, SPEC string or { kind, …params } object", "cache", value);
    }
    const spec = typeof value === "string" ? parseCacheSpec(value) : checkSpecObject(value, "cache", CACHE_SPECS);
    if (spec.kind === "none") return CachePolicy.none();
    throw new RangeError(`Cache policy "${spec.kind}" is not implemented yet: generate without a cache policy`);
  }

  toJSON(): PolicySpec {
    return { kind: this.kind };
  }

  /** The canonical SPEC string (`none`). */
  toString(): string {
    return formatSpec(this.toJSON());
  }
}

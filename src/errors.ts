// Ditto's error types (docs/architecture.md, "Errors, async work and devices"). Engine failures surface as DittoError with a stable `code`; bad JS arguments
// are plain TypeError / RangeError with messages of the form "Expected <what> for <name> but received <value>",
// thrown before any native call so the stack points at the caller.
import { brandClass } from "./brand.js";

export type DittoErrorCode =
  | "ERR_INVALID_ARGUMENT"
  | "ERR_MODEL_LOAD"
  | "ERR_UNSUPPORTED_MODEL"
  | "ERR_OUT_OF_MEMORY"
  | "ERR_CUDA"
  | "ERR_ABORTED"
  | "ERR_DISPOSED"
  | "ERR_NUMERICS"
  | "ERR_INTERNAL";

export const DITTO_ERROR_CODES: readonly DittoErrorCode[] = [
  "ERR_INVALID_ARGUMENT",
  "ERR_MODEL_LOAD",
  "ERR_UNSUPPORTED_MODEL",
  "ERR_OUT_OF_MEMORY",
  "ERR_CUDA",
  "ERR_ABORTED",
  "ERR_DISPOSED",
  "ERR_NUMERICS",
  "ERR_INTERNAL",
];

/** An error raised by Ditto's engine or loader. An abort has `name` 'AbortError' (as Node's own APIs name aborts). */
export class DittoError extends Error {
  readonly code: DittoErrorCode;

  constructor(code: DittoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = code === "ERR_ABORTED" ? "AbortError" : "DittoError";
  }
}

brandClass(DittoError, "DittoError");

export function isDittoError(value: unknown, code?: DittoErrorCode): value is DittoError {
  return value instanceof DittoError && (code === undefined || value.code === code);
}

/** How a received value is named in argument errors: `number[]`, `Float64Array`, `"abc"`, `2` (shapes: shapeError). */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const kinds = new Set(value.map((v) => (v === null ? "null" : typeof v)));
    return kinds.size === 1 ? `${[...kinds][0]}[]` : "Array";
  }
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (typeof value === "function") return "function";
  const ctor = (value as object).constructor?.name;
  return ctor && ctor !== "Object" ? `an instance of ${ctor}` : "object";
}

export function typeError(expected: string, name: string, received: unknown): TypeError {
  return new TypeError(`Expected ${expected} for ${name} but received ${describeValue(received)}`);
}

export function rangeError(expected: string, name: string, received: unknown): RangeError {
  return new RangeError(`Expected ${expected} for ${name} but received ${describeValue(received)}`);
}

/** A RangeError about a shape, which is printed literally: `... but received [3, 32, 32]`. */
export function shapeError(expected: string, name: string, shape: readonly number[]): RangeError {
  return new RangeError(`Expected ${expected} for ${name} but received [${shape.join(", ")}]`);
}

export function abortError(message = "The operation was aborted", cause?: unknown): DittoError {
  return new DittoError("ERR_ABORTED", message, cause === undefined ? undefined : { cause });
}

export function disposedError(what: string): DittoError {
  return new DittoError("ERR_DISPOSED", `${what} has been disposed`);
}

/**
 * Re-points a native error at the caller: errors created on a worker thread carry no useful JS stack, so callers
 * capture `new Error()` before the native call and graft its frames onto the rejection.
 */
export function withCallerStack<E extends Error>(error: E, callerStack: string | undefined): E {
  if (callerStack) {
    const frames = callerStack.split("\n").slice(1).join("\n");
    error.stack = `${error.name}: ${error.message}\n${frames}`;
  }
  return error;
}

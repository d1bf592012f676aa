// Links a caller's AbortSignal to the native AbortFlag a queued job checks between blocks (docs/architecture.md,
// "Errors, async work and devices"). One helper for every promise-returning native call that takes a `signal`.
import { abortError, typeError } from "./errors.js";
import { native, type NativeAbortFlag } from "./native.js";

export interface AbortLink {
  /** The flag to hand to the native call; undefined without a signal. */
  readonly flag: NativeAbortFlag | undefined;
  /** Unlinks the signal once the call has settled (idempotent). */
  release(): void;
}

/** Checks `signal` (`name` for the message), rejects an already aborted one, and links it to a fresh flag. */
export function linkAbortSignal(signal: unknown, name: string): AbortLink {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw typeError("AbortSignal", name, signal);
  if (signal === undefined) return { flag: undefined, release() {} };
  if (signal.aborted) throw abortError("The operation was aborted", signal.reason);
  const flag = new (native().AbortFlag)();
  const onAbort = () => flag.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  return { flag, release: () => signal.removeEventListener("abort", onAbort) };
}

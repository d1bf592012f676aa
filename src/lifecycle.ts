// The garbage-collection backstop for tensors and models that were never disposed: each is registered with a
// FinalizationRegistry holding its native handle, so when the JS object is collected its native memory is freed
// explicitly (the native handle's own N-API finalizer would do it too, but only once V8 collects the handle as
// well; this frees it in the same cycle) and the miss is counted. dispose() unregisters. The counts tell a service
// that it relies on the collector (docs/reliability.md, "Cancellation and lifecycle").
interface Disposable {
  dispose(): void;
}

type Kind = "tensors" | "models";

const collected: Record<Kind, number> = { tensors: 0, models: 0 };

const registry = new FinalizationRegistry<{ kind: Kind; handle: Disposable }>(({ kind, handle }) => {
  collected[kind] += 1;
  try {
    handle.dispose();
  } catch {
    // its environment is ending; nothing to free from here
  }
});

/** Frees `handle` when `owner` is collected without dispose(); `owner` is also the token for forget(). */
export function backstop(owner: object, kind: Kind, handle: Disposable): void {
  registry.register(owner, { kind, handle }, owner);
}

/** Called by dispose(): the owner freed its handle itself. */
export function forget(owner: object): void {
  registry.unregister(owner);
}

/** How many tensors and models the garbage collector has freed because nobody disposed them. */
export function undisposedCollected(): { tensors: number; models: number } {
  return { ...collected };
}

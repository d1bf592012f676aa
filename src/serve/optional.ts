// Loads the service's optional dependencies (fastify for `ditto serve`; bullmq + ioredis for `ditto worker` and
// `serve --queue`) only when those commands run, so the library and the other commands never need them. A missing
// one fails with a message that says which command needs it and how to install it.
export class MissingDependencyError extends Error {
  constructor(readonly dependency: string, what: string) {
    super(`${what} needs the optional dependency ${dependency}; install it with: npm install ${dependency}`);
    this.name = "MissingDependencyError";
  }
}

/** Imports an optional dependency, turning "not installed" into MissingDependencyError. */
export async function loadOptional<T>(name: string, what: string, importer: () => Promise<T>): Promise<T> {
  try {
    return await importer();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") throw new MissingDependencyError(name, what);
    throw e;
  }
}

export async function loadFastify(): Promise<typeof import("fastify").fastify> {
  return (await loadOptional("fastify", "ditto serve", () => import("fastify"))).fastify;
}

export async function loadQueueModules(what: string): Promise<{ bullmq: typeof import("bullmq"); Redis: typeof import("ioredis").Redis }> {
  const bullmq = await loadOptional("bullmq", what, () => import("bullmq"));
  const ioredis = await loadOptional("ioredis", what, () => import("ioredis"));
  return { bullmq, Redis: ioredis.Redis };
}

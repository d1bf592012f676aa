// A cache policy inside a custom sampling loop (`model.session({ cache, steps })`, docs/caching.md): each
// session.step() counts as the next sampling step; branches that bring no plan, signals or rule of their own get
// the policy's (the first step fixes the branch count and batch), and the step's signals and hits go back to the
// policy. Same CacheRun as Pipeline.generate({ cache }), so a custom loop caches exactly as the pipeline does.
import { rangeError } from "../errors.js";
import type { CachePolicy } from "./policy.js";
import type { CacheRun } from "./run.js";
import type { SessionStepRequest, SessionStepResult } from "../session.js";

export class SessionCache {
  readonly #policy: CachePolicy;
  readonly #steps: number;
  readonly #depth: number;
  #run: CacheRun | undefined;
  #index = 0;
  #shape = "";

  constructor(policy: CachePolicy, steps: number, depth: number) {
    if (!Number.isSafeInteger(steps) || steps < 1) throw rangeError("positive integer (the sampling steps the cache plans for)", "options.steps", steps);
    this.#policy = policy;
    this.#steps = steps;
    this.#depth = depth;
  }

  /** The request with the policy's plans for this step's branches. */
  plan(request: SessionStepRequest, batch: number, t: number): SessionStepRequest {
    if (this.#index >= this.#steps) throw rangeError(`at most ${this.#steps} steps (options.steps of model.session)`, "session.step", this.#index + 1);
    const shape = `${request.branches.length}x${batch}`;
    if (!this.#run) {
      this.#run = this.#policy.start({ depth: this.#depth, batch, branches: request.branches.length, total: this.#steps });
      this.#shape = shape;
    } else if (shape !== this.#shape) {
      throw rangeError(`${this.#shape.replace("x", " branches of ")} samples (as at the first step of this cached session)`, "request.branches", shape.replace("x", " branches of ") + " samples");
    }
    const run = this.#run;
    if (!run) return request;
    const step = { index: this.#index, total: this.#steps, sigma: t / 1000 };
    return {
      ...request,
      branches: request.branches.map((b, k) => (b.actions || b.signals || b.firstBlockCache ? b : { ...b, ...run.plan(step, k) })),
    };
  }

  observe(result: SessionStepResult): void {
    this.#run?.observe({ index: this.#index, total: this.#steps, sigma: 0 }, result.signals, result.cacheHits);
    this.#index++;
  }
}

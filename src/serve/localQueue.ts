// The in-process job backend of `ditto serve` (docs/serving.md, "One node"): a bounded FIFO of checked requests run
// by `concurrency` runners on one Pipeline. At most `maxQueue` jobs wait; the next submit throws QueueFullError
// (429). Cancelling a waiting job drops it; cancelling a running one aborts its generate() between blocks through
// its AbortSignal. Finished jobs are kept (the newest KEEP_FINISHED) for GET /v1/jobs/:id.
import { randomUUID } from "node:crypto";

import { abortError } from "../errors.js";
import type { Pipeline } from "../pipeline/pipeline.js";
import { QueueFullError, retryAfterSeconds, type JobBackend, type JobOutput, type JobStatus } from "./backend.js";
import type { ServiceMetrics } from "./metrics.js";
import type { GenerateRequest } from "./request.js";

/** Finished jobs remembered for GET /v1/jobs/:id. */
const KEEP_FINISHED = 1000;

interface LocalJob {
  status: JobStatus;
  request: GenerateRequest;
  controller: AbortController;
  done: Promise<JobOutput>;
  settle: { resolve(output: JobOutput): void; reject(error: unknown): void };
}

export interface LocalQueueOptions {
  maxQueue: number;
  concurrency: number;
  metrics: ServiceMetrics;
}

export class LocalJobQueue implements JobBackend {
  readonly description: string;
  readonly #pipe: Pipeline;
  readonly #options: LocalQueueOptions;
  readonly #jobs = new Map<string, LocalJob>();
  readonly #waiting: LocalJob[] = [];
  #running = 0;
  #closed = false;
  /** Mean wall time of a finished job (seconds), for Retry-After. */
  #meanJobSeconds = 1;

  constructor(pipe: Pipeline, options: LocalQueueOptions) {
    this.#pipe = pipe;
    this.#options = options;
    this.description = `local pipeline on ${pipe.device}`;
  }

  async submit(request: GenerateRequest): Promise<string> {
    if (this.#closed) throw new Error("The service is shutting down");
    if (this.#waiting.length >= this.#options.maxQueue) {
      this.#options.metrics.jobFinished("rejected");
      throw new QueueFullError(this.#waiting.length, retryAfterSeconds(this.#waiting.length, this.#options.concurrency, this.#meanJobSeconds));
    }
    const id = randomUUID();
    let settle!: LocalJob["settle"];
    const done = new Promise<JobOutput>((resolve, reject) => { settle = { resolve, reject }; });
    done.catch(() => {}); // a job nobody waits for (async, or its client left) must not be an unhandled rejection
    const job: LocalJob = { status: { id, state: "waiting" }, request, controller: new AbortController(), done, settle };
    this.#jobs.set(id, job);
    this.#waiting.push(job);
    this.#pump();
    return id;
  }

  result(id: string): Promise<JobOutput> {
    const job = this.#jobs.get(id);
    return job ? job.done : Promise.reject(new RangeError(`Expected a known job id for id but received ${JSON.stringify(id)}`));
  }

  async cancel(id: string): Promise<void> {
    const job = this.#jobs.get(id);
    if (!job) return;
    if (job.status.state === "waiting") {
      this.#waiting.splice(this.#waiting.indexOf(job), 1);
      this.#finish(job, undefined, abortError("The job was cancelled before it started"));
    } else if (job.status.state === "active") {
      job.controller.abort(new Error("cancelled"));
    }
  }

  async status(id: string): Promise<JobStatus | undefined> {
    return this.#jobs.get(id)?.status;
  }

  async depth(): Promise<{ waiting: number; running: number }> {
    return { waiting: this.#waiting.length, running: this.#running };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of [...this.#waiting]) await this.cancel(job.status.id);
    const running = [...this.#jobs.values()].filter((j) => j.status.state === "active");
    for (const job of running) job.controller.abort(new Error("the service is shutting down"));
    await Promise.allSettled(running.map((j) => j.done));
  }

  #pump(): void {
    while (this.#running < this.#options.concurrency && this.#waiting.length > 0) {
      const job = this.#waiting.shift()!;
      this.#running++;
      job.status.state = "active";
      void this.#run(job).finally(() => {
        this.#running--;
        this.#pump();
      });
    }
  }

  async #run(job: LocalJob): Promise<void> {
    const start = performance.now();
    try {
      const result = await this.#pipe.generate({ ...job.request, signal: job.controller.signal });
      result.latents.dispose();
      const images = await Promise.all(result.images.map(async (image) => ({ png: await image.toPNG() })));
      this.#meanJobSeconds = 0.8 * this.#meanJobSeconds + 0.2 * ((performance.now() - start) / 1000);
      this.#finish(job, { images, stats: result.stats });
    } catch (e) {
      this.#finish(job, undefined, e);
    }
  }

  #finish(job: LocalJob, output: JobOutput | undefined, error?: unknown): void {
    const metrics = this.#options.metrics;
    if (output) {
      job.status.state = "completed";
      job.status.output = output;
      metrics.jobFinished("completed", output.images.length, output.stats);
      job.settle.resolve(output);
    } else {
      const e = error as Error & { code?: string };
      job.status.state = e?.name === "AbortError" ? "cancelled" : "failed";
      job.status.error = { name: e?.name ?? "Error", message: e?.message ?? String(error), ...(e?.code ? { code: e.code } : {}) };
      metrics.jobFinished(job.status.state === "cancelled" ? "cancelled" : "failed");
      job.settle.reject(error);
    }
    this.#forgetOldJobs();
  }

  #forgetOldJobs(): void {
    let finished = 0;
    for (const job of this.#jobs.values()) if (job.status.state !== "waiting" && job.status.state !== "active") finished++;
    for (const [id, job] of this.#jobs) {
      if (finished <= KEEP_FINISHED) break;
      if (job.status.state === "waiting" || job.status.state === "active") continue;
      this.#jobs.delete(id);
      finished--;
    }
  }
}

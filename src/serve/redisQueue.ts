// The BullMQ job backend of `ditto serve --queue redis://…` (docs/serving.md, "Many nodes"): requests become jobs
// on a BullMQ queue that any number of `ditto worker` processes consume (worker.ts); retries, stalled-job recovery
// and the job store are BullMQ's. The bound is soft across several serve nodes (each reads the shared waiting count
// before adding). Cancelling removes a waiting job, or publishes the id on the queue's cancel channel, where the
// worker running it aborts it (worker.cancelJob → the processor's AbortSignal).
import type { Job, Queue, QueueEvents } from "bullmq";
import type { Redis as RedisClient } from "ioredis";

import { abortError } from "../errors.js";
import { QueueFullError, retryAfterSeconds, ServiceClosingError, type JobBackend, type JobOutput, type JobState, type JobStatus } from "./backend.js";
import type { ServiceMetrics } from "./metrics.js";
import { loadQueueModules } from "./optional.js";
import type { GenerateRequest } from "./request.js";

/** The Redis pub/sub channel on which cancelled job ids are announced to the workers of `queue`. */
export function cancelChannel(queue: string): string {
  return `ditto:${queue}:cancel`;
}

/** BullMQ options for a generation job: a failed run is retried twice; finished jobs are kept for an hour. */
export const JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: "exponential", delay: 1000 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 24 * 3600 },
} as const;

/** A BullMQ job's failure as the error the HTTP layer maps (the worker prefixes the original class name). */
export function jobError(failedReason: string | undefined): Error {
  const message = failedReason ?? "the job failed";
  const match = /^(TypeError|RangeError|AbortError): ([\s\S]*)$/.exec(message);
  if (match?.[1] === "TypeError") return new TypeError(match[2]);
  if (match?.[1] === "RangeError") return new RangeError(match[2]);
  if (match?.[1] === "AbortError") return abortError(match[2]);
  return new Error(message);
}

export interface RedisQueueOptions {
  url: string;
  queue: string;
  maxQueue: number;
  metrics: ServiceMetrics;
}

export class RedisJobQueue implements JobBackend {
  readonly description: string;
  readonly #options: RedisQueueOptions;
  readonly #connection: RedisClient;
  readonly #eventsConnection: RedisClient;
  readonly #queue: Queue;
  readonly #events: QueueEvents;
  #meanJobSeconds = 1;
  /** Ids of the jobs this node queued and has not seen finish (the metrics count those, wherever they ran). */
  readonly #mine = new Set<string>();
  /** Ends the result() waits in progress (close()). */
  readonly #stopWaiting = new Set<(error: Error) => void>();

  private constructor(options: RedisQueueOptions, connection: RedisClient, eventsConnection: RedisClient, queue: Queue, events: QueueEvents) {
    this.#options = options;
    this.#connection = connection;
    this.#eventsConnection = eventsConnection;
    this.#queue = queue;
    this.#events = events;
    this.description = `BullMQ queue ${options.queue} on ${options.url}`;
    events.on("completed", ({ jobId, returnvalue }) => {
      if (!this.#mine.delete(jobId)) return;
      const value = (typeof returnvalue === "string" ? JSON.parse(returnvalue) : returnvalue) as { images: string[]; stats: JobOutput["stats"] };
      options.metrics.jobFinished("completed", value.images.length, value.stats);
    });
    events.on("failed", ({ jobId, failedReason }) => {
      if (this.#mine.delete(jobId)) options.metrics.jobFinished(jobError(failedReason).name === "AbortError" ? "cancelled" : "failed");
    });
  }

  static async connect(options: RedisQueueOptions): Promise<RedisJobQueue> {
    const { bullmq, Redis } = await loadQueueModules("ditto serve --queue");
    const connection = new Redis(options.url, { maxRetriesPerRequest: null });
    const queue = new bullmq.Queue(options.queue, { connection });
    const eventsConnection = connection.duplicate();
    const events = new bullmq.QueueEvents(options.queue, { connection: eventsConnection });
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    return new RedisJobQueue(options, connection, eventsConnection, queue, events);
  }

  async submit(request: GenerateRequest): Promise<string> {
    const { waiting, running } = await this.depth();
    if (waiting >= this.#options.maxQueue) {
      this.#options.metrics.jobFinished("rejected");
      throw new QueueFullError(waiting, retryAfterSeconds(waiting, Math.max(1, running), this.#meanJobSeconds));
    }
    const job = await this.#queue.add("generate", request, JOB_OPTIONS);
    this.#mine.add(job.id!);
    return job.id!;
  }

  async result(id: string): Promise<JobOutput> {
    const job = await this.#job(id);
    const start = performance.now();
    // waitUntilFinished never settles for a job removed while waiting (a cancellation), nor once this node closes:
    // both end the wait here instead of leaving it (and its listeners) pending forever.
    let stop!: (error: Error) => void;
    const stopped = new Promise<never>((_, reject) => { stop = reject; });
    const onRemoved = ({ jobId }: { jobId: string }) => { if (jobId === id) stop(abortError("The job was cancelled before it started")); };
    this.#events.on("removed", onRemoved);
    this.#stopWaiting.add(stop);
    try {
      const value = (await Promise.race([job.waitUntilFinished(this.#events), stopped])) as { images: string[]; stats: JobOutput["stats"]; worker: string };
      this.#meanJobSeconds = 0.8 * this.#meanJobSeconds + 0.2 * ((performance.now() - start) / 1000);
      return { images: value.images.map((path) => ({ path })), stats: value.stats, worker: value.worker };
    } catch (e) {
      if (e instanceof ServiceClosingError || (e as Error).name === "AbortError") throw e;
      throw jobError((e as Error).message);
    } finally {
      this.#events.off("removed", onRemoved);
      this.#stopWaiting.delete(stop);
    }
  }

  async cancel(id: string): Promise<void> {
    const job = await this.#queue.getJob(id);
    if (!job) return;
    const state = await job.getState();
    if (state === "waiting" || state === "delayed" || state === "prioritized") {
      // remove() refuses a job a worker has just locked; that one is cancelled through the channel below.
      try {
        await job.remove();
        if (this.#mine.delete(id)) this.#options.metrics.jobFinished("cancelled");
        return;
      } catch {
        /* taken by a worker meanwhile */
      }
    }
    if (state !== "completed" && state !== "failed") await this.#connection.publish(cancelChannel(this.#options.queue), id);
  }

  async status(id: string): Promise<JobStatus | undefined> {
    const job = await this.#queue.getJob(id);
    if (!job) return undefined;
    const bullState = await job.getState();
    const state: JobState = bullState === "active" ? "active" : bullState === "completed" ? "completed" : bullState === "failed"
      ? (jobError(job.failedReason).name === "AbortError" ? "cancelled" : "failed") : "waiting";
    const status: JobStatus = { id, state };
    if (state === "completed") {
      const value = job.returnvalue as { images: string[]; stats: JobOutput["stats"]; worker: string };
      status.output = { images: value.images.map((path) => ({ path })), stats: value.stats, worker: value.worker };
    } else if (state === "failed" || state === "cancelled") {
      const error = jobError(job.failedReason);
      status.error = { name: error.name, message: error.message };
    }
    return status;
  }

  async depth(): Promise<{ waiting: number; running: number }> {
    const counts = await this.#queue.getJobCounts("waiting", "prioritized", "delayed", "active");
    return { waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0), running: counts.active ?? 0 };
  }

  async close(): Promise<void> {
    for (const stop of this.#stopWaiting) stop(new ServiceClosingError());
    await this.#events.close();
    await this.#queue.close();
    this.#eventsConnection.disconnect();
    this.#connection.disconnect();
  }

  async #job(id: string): Promise<Job> {
    const job = await this.#queue.getJob(id);
    if (!job) throw new RangeError(`Expected a known job id for id but received ${JSON.stringify(id)}`);
    return job;
  }
}

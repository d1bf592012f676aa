// What `ditto serve` needs from whatever runs its jobs (docs/serving.md): a bounded queue that accepts a checked
// request, answers its result, cancels it and reports its state. Two implementations: localQueue.ts (this process's
// Pipeline) and redisQueue.ts (BullMQ on Redis, run by `ditto worker` processes). The HTTP layer (server.ts) sees
// only this interface.
import type { GenerateStats } from "../pipeline/pipeline.js";
import type { GenerateRequest } from "./request.js";

export type JobState = "waiting" | "active" | "completed" | "failed" | "cancelled";

/** A finished job: PNG bytes (local) or the paths a worker wrote (queue), and the run's stats. */
export interface JobOutput {
  images: { png: Buffer }[] | { path: string }[];
  stats: GenerateStats;
  /** The worker (host:pid) that ran it, for queued jobs. */
  worker?: string;
}

export interface JobStatus {
  id: string;
  state: JobState;
  output?: JobOutput;
  /** The failure's message (and its class: TypeError / RangeError are the request's fault). */
  error?: { name: string; message: string; code?: string };
}

export interface JobBackend {
  /** Short description for /healthz ("local dit on cpu", "redis://… queue ditto"). */
  readonly description: string;
  /** Queues a checked request; throws QueueFullError when the queue already holds its maximum. */
  submit(request: GenerateRequest): Promise<string>;
  /** Waits for the job to finish; rejects with the job's error (an AbortError when cancelled). */
  result(id: string): Promise<JobOutput>;
  /** Cancels a job: removed if waiting, aborted between blocks if running. Unknown or finished ids are ignored. */
  cancel(id: string): Promise<void>;
  status(id: string): Promise<JobStatus | undefined>;
  depth(): Promise<{ waiting: number; running: number }>;
  /** Stops taking jobs and releases what the backend holds (waiting local jobs are cancelled). */
  close(): Promise<void>;
}

/** The queue holds its maximum of waiting jobs; the HTTP layer answers 429 with Retry-After. */
export class QueueFullError extends Error {
  constructor(readonly waiting: number, readonly retryAfterSeconds: number) {
    super(`The queue is full (${waiting} jobs waiting); retry after ${retryAfterSeconds} s`);
    this.name = "QueueFullError";
  }
}

/** The node is shutting down while a client waits; a queued job stays queued (503: ask another node). */
export class ServiceClosingError extends Error {
  constructor() {
    super("The service is shutting down; a queued job stays on the queue (GET /v1/jobs/:id on another node)");
    this.name = "ServiceClosingError";
  }
}

/** Seconds until a slot is likely free: the waiting jobs ahead, spread over the runners, at the mean job time. */
export function retryAfterSeconds(waiting: number, concurrency: number, meanJobSeconds: number): number {
  return Math.max(1, Math.ceil(((waiting + 1) / Math.max(1, concurrency)) * meanJobSeconds));
}

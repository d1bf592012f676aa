// `ditto worker`'s consumer (docs/serving.md, "Many nodes"): a BullMQ Worker on the shared queue that runs each
// job's request (the POST /v1/generate body) on this process's Pipeline, writes OUT/<jobId>-<i>.png and returns
// { images: [paths], stats, worker }. Requests that cannot succeed (bad input, cancelled) fail with BullMQ's
// UnrecoverableError, so they are not retried; other failures are retried by BullMQ (redisQueue.ts JOB_OPTIONS). A
// SIGKILLed worker's job keeps its lock until lockDuration, after which another worker's stalled-job check puts it
// back in the queue (BullMQ "Stalled jobs"). Files are written under a temporary name and renamed, so a killed
// run never leaves a partial PNG under a job's name.
import { rename, writeFile, mkdir } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";

import type { Job, Worker } from "bullmq";
import type { Redis as RedisClient } from "ioredis";

import type { Pipeline } from "../pipeline/pipeline.js";
import { loadQueueModules } from "./optional.js";
import { cancelChannel } from "./redisQueue.js";
import { parseGenerateRequest, type RequestDefaults } from "./request.js";

export interface QueueWorkerOptions {
  url: string;
  queue: string;
  out: string;
  concurrency: number;
  /** BullMQ lockDuration (ms): how long a killed worker's job stays locked before it counts as stalled. */
  lockDuration: number;
  /** BullMQ stalledInterval (ms): how often this worker looks for stalled jobs. */
  stalledInterval: number;
  /** Called as each job starts and ends (the CLI logs it on stderr). */
  log?: (line: string) => void;
}

export interface QueueWorker {
  /** Stops taking jobs, lets the running ones finish, and disconnects. */
  close(): Promise<void>;
}

/** Failures that a retry cannot fix: the request's own errors and cancellation. */
function unrecoverable(e: unknown): boolean {
  const error = e as Error;
  return error instanceof TypeError || error instanceof RangeError || error?.name === "AbortError";
}

export async function startQueueWorker(pipe: Pipeline, defaults: RequestDefaults, options: QueueWorkerOptions): Promise<QueueWorker> {
  const { bullmq, Redis } = await loadQueueModules("ditto worker");
  const workerName = `${hostname()}:${process.pid}`;
  const log = options.log ?? (() => {});
  await mkdir(options.out, { recursive: true });

  const processor = async (job: Job, _token?: string, signal?: AbortSignal) => {
    try {
      const request = parseGenerateRequest(job.data, defaults);
      log(`job ${job.id} started (attempt ${job.attemptsStarted})`);
      const result = await pipe.generate({ ...request, signal });
      result.latents.dispose();
      const images: string[] = [];
      for (const [i, image] of result.images.entries()) {
        const file = path.resolve(options.out, `${job.id}-${i}.png`);
        const partial = `${file}.${process.pid}.partial`;
        await writeFile(partial, await image.toPNG());
        await rename(partial, file);
        images.push(file);
      }
      log(`job ${job.id} completed: ${images.length} image(s) in ${result.stats.wallMs.toFixed(0)} ms`);
      return { images, stats: result.stats, worker: workerName };
    } catch (e) {
      const error = e as Error;
      log(`job ${job.id} failed: ${error.name}: ${error.message}`);
      // The class name travels in the message so `serve --queue` answers 400 for a bad request (redisQueue.jobError).
      if (unrecoverable(e)) throw new bullmq.UnrecoverableError(`${error.name === "AbortError" ? "AbortError" : error.constructor.name}: ${error.message}`);
      throw e;
    }
  };

  const connection: RedisClient = new Redis(options.url, { maxRetriesPerRequest: null });
  const worker: Worker = new bullmq.Worker(options.queue, processor, {
    connection,
    concurrency: options.concurrency,
    lockDuration: options.lockDuration,
    stalledInterval: options.stalledInterval,
    name: workerName,
  });
  worker.on("error", (e) => log(`queue error: ${e.message}`));
  const subscriber = connection.duplicate();
  await subscriber.subscribe(cancelChannel(options.queue));
  subscriber.on("message", (_channel: string, id: string) => {
    if (worker.cancelJob(id, "cancelled by the client")) log(`job ${id} cancelled`);
  });
  await worker.waitUntilReady();

  return {
    async close() {
      await worker.close();
      subscriber.disconnect();
      connection.disconnect();
    },
  };
}

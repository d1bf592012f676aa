// `ditto worker` and `ditto serve --queue` on a real Redis (docs/serving.md, "Many nodes"): the built CLI in child
// processes (dist/, so this needs the build) against a redis-server started on a free loopback port. Covers the
// contract (job data = the POST body, OUT/<jobId>-<i>.png, return value { images, stats, worker }), 400 before a
// job is queued, a worker refusing a bad job without retries, 429 on a full queue, a disconnect removing a waiting
// job, SIGTERM finishing the running job, and the fault test: a worker SIGKILLed mid-job loses the job to BullMQ's
// stalled-job recovery, another worker completes it, and it completes exactly once. Small jobs keep it to seconds.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";

import { Pipeline } from "../../src/pipeline/pipeline.js";
import { REPO_ROOT } from "../shared-paths.js";
import { HAS_REDIS, REDIS_SKIP, startRedis, type RedisServer } from "./redis-server.js";

const CLI = path.join(REPO_ROOT, "dist/cli.js");
const MODEL = path.join(REPO_ROOT, "examples/models/glyphs");
if (!HAS_REDIS) console.warn(`test/serve/worker.test.ts skipped: ${REDIS_SKIP}`);

interface Ditto {
  child: ChildProcess;
  stderr: () => string;
  /** Resolves with the first stdout line matching `pattern`. */
  line: (pattern: RegExp) => Promise<string>;
  /** Resolves once stderr has a line matching `pattern`. */
  logged: (pattern: RegExp) => Promise<void>;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];

function ditto(...argv: string[]): Ditto {
  const child = spawn(process.execPath, [CLI, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let stdout = "", stderr = "";
  const waiters: (() => void)[] = [];
  const wake = () => { for (const w of waiters.splice(0)) w(); };
  child.stdout!.on("data", (c: Buffer) => { stdout += c.toString(); wake(); });
  child.stderr!.on("data", (c: Buffer) => { stderr += c.toString(); wake(); });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => { wake(); resolve(code); }));
  const waitFor = async <T>(read: () => T | undefined, what: string): Promise<T> => {
    for (;;) {
      const value = read();
      if (value !== undefined) return value;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`ditto ${argv[0]} exited before ${what}:\n${stderr}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return {
    child,
    stderr: () => stderr,
    line: (pattern) => waitFor(() => stdout.split("\n").find((l) => pattern.test(l)), String(pattern)),
    logged: (pattern) => waitFor(() => (stderr.split("\n").some((l) => pattern.test(l)) ? true : undefined), String(pattern)).then(() => {}),
    exited,
  };
}

/**
 * A worker on `queue`. Its lock is BullMQ's default (30 s) unless a test kills workers: a short lock recovers sooner
 * but can expire on a CPU-starved CI machine (the job then counts as stalled), so only the kill test shortens it.
 */
async function startWorker(redis: RedisServer, queue: string, out: string, lockMs = 30_000): Promise<Ditto> {
  const worker = ditto("worker", "--model", MODEL, "--redis", redis.url, "--queue", queue, "--out", out, "--threads", "1",
    "--lock-duration", String(lockMs), "--stalled-interval", "1000");
  await worker.line(/^worker ready on /);
  return worker;
}

async function startServe(redis: RedisServer, queue: string, maxQueue: number): Promise<{ serve: Ditto; url: string }> {
  const serve = ditto("serve", "--model", MODEL, "--port", "0", "--queue", redis.url, "--queue-name", queue, "--max-queue", String(maxQueue));
  const url = (await serve.line(/^listening on http:\/\/127\.0\.0\.1:\d+$/)).slice("listening on ".length);
  return { serve, url };
}

async function post(url: string, body: unknown, query = "", signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/v1/generate${query}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal });
}

describe.skipIf(!HAS_REDIS)("ditto worker + serve --queue on BullMQ and a real redis-server", () => {
  let redis: RedisServer;
  let work: string;
  let bullmq: typeof import("bullmq");
  let Redis: typeof import("ioredis").Redis;

  beforeAll(async () => {
    redis = await startRedis();
    work = mkdtempSync(path.join(tmpdir(), "ditto-worker-"));
    bullmq = await import("bullmq");
    Redis = (await import("ioredis")).Redis;
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await redis?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /**
   * A BullMQ producer and event stream on `queue`, closed by the returned close(). Both are ready when it resolves:
   * QueueEvents reads only the events after it connects, so a job that finishes earlier would leave
   * waitUntilFinished pending forever (a 120 s CI timeout under load; src/serve/redisQueue.ts waits the same way).
   */
  /** The job's state once it is completed or failed (polled every 20 ms). */
  async function finishedState(queue: import("bullmq").Queue, id: string): Promise<string> {
    for (;;) {
      const state = await queue.getJobState(id);
      if (state === "completed" || state === "failed") return state;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function queueClient(queue: string) {
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const eventsConnection = connection.duplicate();
    const q = new bullmq.Queue(queue, { connection });
    const events = new bullmq.QueueEvents(queue, { connection: eventsConnection });
    await Promise.all([q.waitUntilReady(), events.waitUntilReady()]);
    return {
      queue: q,
      events,
      async close() {
        await events.close();
        await q.close();
        eventsConnection.disconnect();
        connection.disconnect();
      },
    };
  }

  it("serve --queue hands the POST body to a worker, which writes OUT/<jobId>-<i>.png and returns the paths", async () => {
    // On a failure, say which phase the test was in and what the two processes logged (a CI-only hang was found so).
    let phase = "starting the worker";
    let worker: Ditto | undefined, serve: Ditto | undefined;
    onTestFailed(() => {
      console.error(`worker.test.ts contract test failed in phase: ${phase}\n--- worker stderr ---\n${worker?.stderr() ?? ""}\n--- serve stderr ---\n${serve?.stderr() ?? ""}`);
    });
    const out = path.join(work, "contract");
    worker = await startWorker(redis, "contract", out);
    phase = "starting serve";
    const started = await startServe(redis, "contract", 4);
    serve = started.serve;
    const url = started.url;
    try {
      phase = "the first POST";
      const body = { classLabels: [3, 4], steps: 4, seed: 0 };
      const response = await post(url, body);
      expect(response.status).toBe(200);
      const json = await response.json() as { id: string; images: string[]; stats: { forwards: number }; worker: string };
      expect(json.images).toEqual([0, 1].map((i) => path.join(out, `${json.id}-${i}.png`)));
      expect(json.worker).toBe(`${hostname()}:${worker.child.pid}`);
      await using pipe = await Pipeline.load({ kind: "class-conditional", model: MODEL, threads: 1 });
      const direct = await pipe.generate(body);
      direct.latents.dispose();
      for (const [i, image] of direct.images.entries()) expect(readFileSync(json.images[i]!).equals(await image.toPNG())).toBe(true);
      expect(json.stats.forwards).toBe(direct.stats.forwards);

      // Bad input is a 400 from serve with the API's message, before anything is queued.
      phase = "a 400 for bad input";
      const bad = await post(url, { classLabels: [3], steps: 0 });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { message: string } }).error.message).toBe("Expected integer between 1 and 10000 for steps but received 0");

      // A bad job put on the queue by someone else fails on the worker with the same message, without retries.
      phase = "a bad job added to the queue directly";
      const client = await queueClient("contract");
      try {
        const job = await client.queue.add("generate", { classLabels: [99], steps: 2 }, { attempts: 3 });
        // Polled, not job.waitUntilFinished: a job failing within milliseconds can fail before the fresh QueueEvents'
        // first read, and its event is then never seen (the 120 s hang this test had in CI: the worker had logged the
        // failure, the wait never settled).
        expect(await finishedState(client.queue, job.id!)).toBe("failed");
        const failed = await client.queue.getJob(job.id!);
        expect(failed!.failedReason).toBe("RangeError: Expected integer between 0 and 10 (10 = unconditional) for classLabels[0] but received 99");
        expect(failed!.attemptsMade).toBe(1);
        const status = await (await fetch(`${url}/v1/jobs/${job.id}`)).json() as { state: string; error: { name: string } };
        expect(status).toMatchObject({ state: "failed", error: { name: "RangeError" } });
      } finally {
        await client.close();
      }

      // A client that disconnects while a worker runs its job: the id goes out on the cancel channel, the worker aborts
      // the job between blocks, and it fails once (no retry); the worker then takes the next job.
      const leaving = new AbortController();
      phase = "a long job, waiting for it to be active";
      const pending = post(url, { classLabels: [6], steps: 10_000 }, "", leaving.signal).catch((e: Error) => e);
      const watcher = await queueClient("contract");
      let cancelledId: string | undefined;
      try {
        while (!cancelledId) {
          cancelledId = (await watcher.queue.getActive())[0]?.id;
          if (!cancelledId) await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        await watcher.close();
      }
      await worker.logged(new RegExp(`^ditto worker: job ${cancelledId} started`));
      phase = `cancelling job ${cancelledId} by disconnecting`;
      leaving.abort();
      expect(await pending).toBeInstanceOf(Error);
      await worker.logged(new RegExp(`^ditto worker: job ${cancelledId} failed: AbortError: `));
      // The worker logs before BullMQ moves the job to failed: poll until it has.
      let status: { state: string } = { state: "active" };
      while (status.state === "active") status = (await (await fetch(`${url}/v1/jobs/${cancelledId}`)).json()) as typeof status;
      expect(status).toEqual({ id: cancelledId, state: "cancelled", error: { name: "AbortError", message: "The operation was aborted" } });
      phase = "the next job after the cancellation";
      const next = await post(url, { classLabels: [6], steps: 2, seed: 0 });
      expect(next.status).toBe(200);
      expect(worker.stderr()).toContain(`job ${cancelledId} cancelled`);
      expect(worker.stderr()).not.toContain(`job ${cancelledId} started (attempt 2)`);

      phase = "SIGTERM to both";
      serve.child.kill("SIGTERM");
      worker.child.kill("SIGTERM");
      expect(await serve.exited).toBe(0);
      expect(await worker.exited).toBe(0);
    } finally {
      // A failed check must not leave a worker running a long job beside the next tests.
      for (const child of [serve.child, worker.child]) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });

  it("answers 429 above --max-queue waiting jobs, a client that disconnects removes its waiting job, SIGTERM answers waiting clients 503", async () => {
    // No worker consumes this queue, so jobs wait.
    const { serve, url } = await startServe(redis, "idle", 1);
    const client = await queueClient("idle");
    try {
      const accepted = await post(url, { classLabels: [1], steps: 2 }, "?async=1");
      expect(accepted.status).toBe(202);
      const refused = await post(url, { classLabels: [1], steps: 2 });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);

      await client.queue.drain();
      const leaving = new AbortController();
      const pending = post(url, { classLabels: [1], steps: 2 }, "", leaving.signal).catch((e: Error) => e);
      while ((await client.queue.getWaitingCount()) === 0) await new Promise((r) => setTimeout(r, 20));
      leaving.abort();
      expect(await pending).toBeInstanceOf(Error);
      while ((await client.queue.getWaitingCount()) !== 0) await new Promise((r) => setTimeout(r, 20));
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/^ditto_jobs_total\{outcome="cancelled"\} 1$/m);
      expect(metrics).toMatch(/^ditto_jobs_total\{outcome="rejected"\} 1$/m);

      // SIGTERM while a client waits: it gets 503 (its job stays queued for the workers) and serve exits 0.
      const waiting = post(url, { classLabels: [2], steps: 2 });
      while ((await client.queue.getWaitingCount()) === 0) await new Promise((r) => setTimeout(r, 20));
      serve.child.kill("SIGTERM");
      const answer = await waiting;
      expect(answer.status).toBe(503);
      expect(((await answer.json()) as { error: { message: string } }).error.message)
        .toBe("The service is shutting down; a queued job stays on the queue (GET /v1/jobs/:id on another node)");
      expect(await serve.exited).toBe(0);
      expect(await client.queue.getWaitingCount()).toBe(1);
    } finally {
      await client.close();
      serve.child.kill("SIGTERM");
      await serve.exited;
    }
  });

  it("a worker SIGKILLed mid-job: BullMQ gives the job to another worker, which completes it exactly once", async () => {
    const out = path.join(work, "kill");
    const client = await queueClient("kill");
    const completions: string[] = [];
    client.events.on("completed", ({ jobId }) => completions.push(jobId));
    await client.events.waitUntilReady();
    try {
      const doomed = await startWorker(redis, "kill", out, 5000);
      const job = await client.queue.add("generate", { classLabels: [5], steps: 60, seed: 3 }, { attempts: 3 });
      await doomed.logged(new RegExp(`^ditto worker: job ${job.id} started`));
      doomed.child.kill("SIGKILL");
      await doomed.exited;
      expect(doomed.stderr()).not.toContain(`job ${job.id} completed`);

      const rescuer = await startWorker(redis, "kill", out, 5000);
      const value = await job.waitUntilFinished(client.events) as { images: string[]; worker: string };
      expect(value.worker).toBe(`${hostname()}:${rescuer.child.pid}`);
      expect(value.images).toEqual([path.join(out, `${job.id}-0.png`)]);
      rescuer.child.kill("SIGTERM");
      expect(await rescuer.exited).toBe(0);

      // Nothing runs any more: exactly one completion, no failure, no partial file, and the stall was BullMQ's.
      expect(completions.filter((id) => id === job.id)).toEqual([job.id]);
      expect(await client.queue.getJobCounts("completed", "failed", "waiting", "active", "delayed"))
        .toEqual({ completed: 1, failed: 0, waiting: 0, active: 0, delayed: 0 });
      const finished = await client.queue.getJob(job.id!);
      expect(finished!.stalledCounter).toBe(1);
      expect(readdirSync(out)).toEqual([`${job.id}-0.png`]);
      expect(rescuer.stderr()).toContain(`job ${job.id} completed`);
    } finally {
      await client.close();
    }
  });

  it("SIGTERM lets the running job finish before the worker exits", async () => {
    const out = path.join(work, "term");
    const client = await queueClient("term");
    try {
      const worker = await startWorker(redis, "term", out);
      const job = await client.queue.add("generate", { classLabels: [2], steps: 20, seed: 1 });
      await worker.logged(new RegExp(`^ditto worker: job ${job.id} started`));
      worker.child.kill("SIGTERM");
      const value = await job.waitUntilFinished(client.events) as { worker: string };
      expect(value.worker).toBe(`${hostname()}:${worker.child.pid}`);
      expect(await worker.exited).toBe(0);
    } finally {
      await client.close();
    }
  });
});

// `ditto serve`'s HTTP layer over the local job queue, in-process on a loopback port with the vendored glyph model
// (docs/serving.md): 200 with base64 PNGs equal to generate()'s, the PNG itself with Accept: image/png, 400 with the
// API's own messages for bad input (compared with what generate() throws for the same options), async jobs, 429 with
// Retry-After when the queue is full, a client that disconnects cancels its job, and the Prometheus text. Small
// steps keep it to seconds; "long" jobs (MAX_STEPS) are always cancelled by the test, never waited for.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { MAX_STEPS } from "../../src/pipeline/options.js";
import { Pipeline } from "../../src/pipeline/pipeline.js";
import { LocalJobQueue } from "../../src/serve/localQueue.js";
import { ServiceMetrics } from "../../src/serve/metrics.js";
import { createServer } from "../../src/serve/server.js";
import { REPO_ROOT } from "../shared-paths.js";

const MODEL = path.join(REPO_ROOT, "examples/models/glyphs");

let pipe: Pipeline;

beforeAll(async () => {
  pipe = await Pipeline.load({ kind: "class-conditional", model: MODEL, threads: 1 });
});

afterAll(async () => {
  await pipe?.dispose();
});

/** A service on a free loopback port over `pipe`; stop() closes it. */
async function startService(options: { maxQueue: number; concurrency: number; maxBatch?: number }) {
  const metrics = new ServiceMetrics();
  const backend = new LocalJobQueue(pipe, { ...options, metrics });
  const app = await createServer({ backend, metrics, defaults: { ...pipe.recommended, numClasses: 10 }, maxBatch: options.maxBatch ?? 8 });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  return {
    url: address,
    backend,
    post: (body: unknown, init: RequestInit & { query?: string } = {}) => fetch(`${address}/v1/generate${init.query ?? ""}`, {
      method: "POST", headers: { "content-type": "application/json", ...(init.headers ?? {}) }, body: JSON.stringify(body), signal: init.signal,
    }),
    metricsText: async () => (await fetch(`${address}/metrics`)).text(),
    async stop() {
      const closing = app.close();
      await backend.close();
      await closing;
      metrics.close();
    },
  };
}

/** The message of a JSON error answer. */
async function errorMessage(response: Response): Promise<string> {
  return ((await response.json()) as { error: { message: string } }).error.message;
}

/** Resolves once the backend reports `want` (polled on the event loop; the test's own timeout bounds it). */
async function until(read: () => Promise<boolean>): Promise<void> {
  while (!(await read())) await new Promise((r) => setTimeout(r, 20));
}

describe("ditto serve (local queue)", () => {
  let service: Awaited<ReturnType<typeof startService>>;
  beforeAll(async () => { service = await startService({ maxQueue: 4, concurrency: 1 }); });
  afterAll(async () => { await service?.stop(); });

  it("answers 200 with base64 PNGs and stats equal to generate()'s", async () => {
    const body = { classLabels: [3, 7], steps: 4, seed: 5, guidanceScale: 2 };
    const response = await service.post(body);
    expect(response.status).toBe(200);
    const json = await response.json() as { id: string; images: string[]; stats: Record<string, number> };
    const direct = await pipe.generate(body);
    direct.latents.dispose();
    const expected = await Promise.all(direct.images.map(async (image) => (await image.toPNG()).toString("base64")));
    expect(json.images).toEqual(expected);
    expect(json.stats.forwards).toBe(direct.stats.forwards);
    expect(json.stats.macs).toBe(direct.stats.macs);
    expect(typeof json.id).toBe("string");
  });

  it("answers the PNG itself with Accept: image/png and one label", async () => {
    const response = await service.post({ classLabels: [1], steps: 3, seed: 0 }, { headers: { accept: "image/png" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/png");
    const png = Buffer.from(await response.arrayBuffer());
    const direct = await pipe.generate({ classLabels: [1], steps: 3, seed: 0 });
    direct.latents.dispose();
    expect(png.equals(await direct.images[0]!.toPNG())).toBe(true);
    const two = await service.post({ classLabels: [1, 2], steps: 3 }, { headers: { accept: "image/png" } });
    expect(two.status).toBe(400);
    expect(await errorMessage(two)).toBe("Expected one label with Accept: image/png for classLabels but received 2");
  });

  it("answers 400 with the API's own message for every bad option (never 500)", async () => {
    const bad: Record<string, unknown>[] = [
      { classLabels: [] },
      { classLabels: [11] },
      { classLabels: [3.5] },
      { classLabels: "3" },
      { classLabels: [3], steps: 0 },
      { classLabels: [3], steps: -4 },
      { classLabels: [3], steps: 1e9 },
      { classLabels: [3], seed: 1.5 },
      { classLabels: [3], seed: -1 },
      { classLabels: [3], guidanceScale: "big" },
      { classLabels: [3], noise: "pink" },
      { classLabels: [3], scheduler: "ddim" },
      { classLabels: [3], cache: "no-such-policy" },
      { classLabels: [3], guidance: "no-such-method" },
      { classLabels: [3], cache: { kind: "none", extra: 1 } },
    ];
    for (const body of bad) {
      const apiMessage = await pipe.generate(body as never).then(() => "no error", (e: Error) => `${e.name}: ${e.message}`);
      const response = await service.post(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const { error } = await response.json() as { error: { name: string; message: string } };
      expect(`${error.name}: ${error.message}`, JSON.stringify(body)).toBe(apiMessage);
    }
  });

  it("answers 400 for what JSON adds: a non-object body, unknown keys, too many labels, bad JSON", async () => {
    const cases: [unknown, string][] = [
      [[3], "Expected JSON object of generate options for body but received number[]"],
      [{ classLabels: [3], signal: 1 }, 'Expected one of classLabels, steps, seed, guidanceScale, noise, scheduler, cache, guidance for a request key but received "signal"'],
      [{ classLabels: new Array(9).fill(0) }, "Expected at most 8 labels (the service's --max-batch) for classLabels but received 9"],
    ];
    for (const [body, message] of cases) {
      const response = await service.post(body);
      expect(response.status).toBe(400);
      expect(await errorMessage(response)).toBe(message);
    }
    const broken = await fetch(`${service.url}/v1/generate`, { method: "POST", headers: { "content-type": "application/json" }, body: "{bad" });
    expect(broken.status).toBe(400);
  });

  it("runs async jobs: 202 with a Location, then GET /v1/jobs/:id; 404 for an unknown id", async () => {
    const response = await service.post({ classLabels: [2], steps: 2, seed: 1 }, { query: "?async=1" });
    expect(response.status).toBe(202);
    const { id } = await response.json() as { id: string };
    expect(response.headers.get("location")).toBe(`/v1/jobs/${id}`);
    let job: { state: string; images?: string[] } = { state: "waiting" };
    await until(async () => {
      job = await (await fetch(`${service.url}/v1/jobs/${id}`)).json() as typeof job;
      return job.state === "completed";
    });
    expect(job.images).toHaveLength(1);
    const missing = await fetch(`${service.url}/v1/jobs/nope`);
    expect(missing.status).toBe(404);
    expect(await errorMessage(missing)).toBe('Expected a known job id for id but received "nope"');
  });

  it("GET /healthz and GET /metrics (Prometheus text with the queue gauge and job counters)", async () => {
    const health = await (await fetch(`${service.url}/healthz`)).json();
    expect(health).toEqual({ status: "ok", backend: "local pipeline on cpu", queue: { waiting: 0, running: 0 } });
    const text = await service.metricsText();
    expect(text).toContain("# TYPE ditto_queue_depth gauge\nditto_queue_depth 0\n");
    expect(text).toMatch(/^ditto_jobs_total\{outcome="completed"\} [1-9]\d*$/m);
    expect(text).toMatch(/^ditto_images_total [1-9]\d*$/m);
    expect(text).toMatch(/^ditto_macs_saved_total 0$/m);
    expect(text).toMatch(/^ditto_http_responses_total\{code="400"\} [1-9]\d*$/m);
    expect(text).toMatch(/^ditto_event_loop_lag_seconds\{quantile="0.99"\} [\d.e-]+$/m);
  });
});

describe("ditto serve with --concurrency 2", () => {
  it("runs concurrent requests with the same images as sequential generate() calls", async () => {
    const service = await startService({ maxQueue: 4, concurrency: 2 });
    try {
      const bodies = [0, 1, 2].map((seed) => ({ classLabels: [seed + 4], steps: 3, seed }));
      const answers = await Promise.all(bodies.map(async (body) => (await (await service.post(body)).json()) as { images: string[] }));
      for (const [k, body] of bodies.entries()) {
        const direct = await pipe.generate(body);
        direct.latents.dispose();
        expect(answers[k]!.images).toEqual([(await direct.images[0]!.toPNG()).toString("base64")]);
      }
    } finally {
      await service.stop();
    }
  });
});

describe("ditto serve bounds and cancellation", () => {
  it("answers 429 with Retry-After above --max-queue, and a client that disconnects cancels its job", async () => {
    const service = await startService({ maxQueue: 1, concurrency: 1 });
    try {
      const running = new AbortController(), waiting = new AbortController();
      const first = service.post({ classLabels: [0], steps: MAX_STEPS }, { signal: running.signal }).catch((e: Error) => e);
      await until(async () => (await service.backend.depth()).running === 1);
      const second = service.post({ classLabels: [0], steps: MAX_STEPS }, { signal: waiting.signal }).catch((e: Error) => e);
      await until(async () => (await service.backend.depth()).waiting === 1);
      const refused = await service.post({ classLabels: [0], steps: 2 });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(await errorMessage(refused)).toMatch(/^The queue is full \(1 jobs waiting\); retry after \d+ s$/);

      // Both clients leave: the waiting job is dropped, the running one aborts between blocks; the queue drains.
      waiting.abort();
      running.abort();
      expect(await second).toBeInstanceOf(Error);
      expect(await first).toBeInstanceOf(Error);
      await until(async () => {
        const depth = await service.backend.depth();
        return depth.running === 0 && depth.waiting === 0;
      });
      const text = await service.metricsText();
      expect(text).toMatch(/^ditto_jobs_total\{outcome="cancelled"\} 2$/m);
      expect(text).toMatch(/^ditto_jobs_total\{outcome="rejected"\} 1$/m);
      // The service still works after the cancellations.
      const after = await service.post({ classLabels: [0], steps: 2, seed: 0 });
      expect(after.status).toBe(200);
    } finally {
      await service.stop();
    }
  });

  it("answers 503 once the job queue is closing (shutdown)", async () => {
    const service = await startService({ maxQueue: 1, concurrency: 1 });
    try {
      await service.backend.close();
      const response = await service.post({ classLabels: [0], steps: 2 });
      expect(response.status).toBe(503);
      expect(await errorMessage(response)).toBe("The service is shutting down");
    } finally {
      await service.stop();
    }
  });
});

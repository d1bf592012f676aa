// The HTTP layer of `ditto serve` on fastify (docs/serving.md): POST /v1/generate, GET /v1/jobs/:id, GET /healthz,
// GET /metrics. Requests are checked by request.ts (the API's own rules and messages) before they are queued; the
// job backend (localQueue.ts or redisQueue.ts) runs them. Status codes: 400 bad input (TypeError / RangeError, the
// message as the API words it), 429 + Retry-After when the queue is full, 499-style cancellation when the client
// left (nobody reads that answer), 500 only for engine failures.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

import { QueueFullError, ServiceClosingError, type JobBackend, type JobOutput, type JobStatus } from "./backend.js";
import type { ServiceMetrics } from "./metrics.js";
import { loadFastify } from "./optional.js";
import { parseGenerateRequest, type RequestDefaults } from "./request.js";

export interface ServerOptions {
  backend: JobBackend;
  metrics: ServiceMetrics;
  defaults: RequestDefaults;
  /** Most labels (images) one request may ask for. */
  maxBatch: number;
  /** Largest request body in bytes. */
  bodyLimit?: number;
}

/** The JSON error body: { error: { name, message, code? } }. */
function errorBody(error: { name: string; message: string; code?: string }) {
  return { error: { name: error.name, message: error.message, ...(error.code ? { code: error.code } : {}) } };
}

/** A job's output as JSON: base64 PNGs (local) or the worker's file paths (queue). */
function outputBody(id: string, output: JobOutput) {
  const images = output.images.map((image) => ("png" in image ? image.png.toString("base64") : image.path));
  return { id, images, stats: output.stats, ...(output.worker ? { worker: output.worker } : {}) };
}

function statusBody(status: JobStatus) {
  return {
    id: status.id,
    state: status.state,
    ...(status.output ? outputBody(status.id, status.output) : {}),
    ...(status.error ? errorBody(status.error) : {}),
  };
}

/** HTTP status of a failed job: the request's fault (400), cancelled (499, the client is gone), the node closing
 * (503), or the engine's (500). */
function failureStatus(error: Error): number {
  if (error instanceof TypeError || error instanceof RangeError) return 400;
  if (error instanceof ServiceClosingError) return 503;
  if (error.name === "AbortError") return 499;
  return 500;
}

export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const fastify = await loadFastify();
  const { backend, metrics } = options;
  const app = fastify({ logger: false, bodyLimit: options.bodyLimit ?? 1 << 20 });
  app.addHook("onResponse", async (_request, reply) => metrics.httpAnswered(reply.statusCode));
  // Malformed JSON, a wrong content type, a body too large: fastify's own 4xx, in our error body.
  app.setErrorHandler(async (error: Error & { statusCode?: number }, _request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    return reply.code(status).send(errorBody(error));
  });

  app.get("/healthz", async () => ({ status: "ok", backend: backend.description, queue: await backend.depth() }));

  app.get("/metrics", async (_request, reply) => {
    reply.type("text/plain; version=0.0.4; charset=utf-8");
    return metrics.render(await backend.depth());
  });

  app.get<{ Params: { id: string } }>("/v1/jobs/:id", async (request, reply) => {
    const status = await backend.status(request.params.id);
    if (!status) return reply.code(404).send(errorBody(new RangeError(`Expected a known job id for id but received ${JSON.stringify(request.params.id)}`)));
    return statusBody(status);
  });

  app.post<{ Querystring: { async?: string } }>("/v1/generate", async (request: FastifyRequest<{ Querystring: { async?: string } }>, reply: FastifyReply) => {
    let checked;
    try {
      checked = parseGenerateRequest(request.body, options.defaults, options.maxBatch);
    } catch (e) {
      return reply.code(400).send(errorBody(e as Error));
    }
    const wantsPng = request.headers.accept === "image/png";
    if (wantsPng && checked.classLabels.length !== 1) {
      return reply.code(400).send(errorBody(new RangeError(`Expected one label with Accept: image/png for classLabels but received ${checked.classLabels.length}`)));
    }
    let id: string;
    try {
      id = await backend.submit(checked);
    } catch (e) {
      if (e instanceof QueueFullError) {
        return reply.code(429).header("retry-after", String(e.retryAfterSeconds)).send(errorBody(e));
      }
      throw e;
    }
    if (request.query.async === "1" || request.query.async === "true") {
      return reply.code(202).header("location", `/v1/jobs/${id}`).send({ id, state: "waiting", status: `/v1/jobs/${id}` });
    }
    // A client that disconnects before its answer cancels its job (the response closes without finishing).
    const onClose = () => {
      if (!reply.raw.writableFinished) void backend.cancel(id);
    };
    reply.raw.on("close", onClose);
    let output: JobOutput;
    try {
      output = await backend.result(id);
    } catch (e) {
      const error = e as Error & { code?: string };
      return reply.code(failureStatus(error)).send(errorBody(error));
    }
    if (wantsPng) {
      const image = output.images[0]!;
      if (!("png" in image)) {
        return reply.code(406).send(errorBody(new Error(`image/png is answered by a local service; this job's image is the worker's file ${image.path}`)));
      }
      return reply.type("image/png").send(image.png);
    }
    return outputBody(id, output);
  });

  return app;
}

// `ditto serve`: the HTTP generation service (docs/serving.md). Runs jobs on this process's Pipeline, or with
// --queue redis://… puts them on a BullMQ queue that `ditto worker` processes consume (then only the model's
// dit.json is read here, to check requests). Prints `listening on http://HOST:PORT` on stdout once ready; SIGTERM /
// SIGINT stop accepting, cancel waiting local jobs and exit.
import { isDeviceSpec } from "../device.js";
import { readFixtureInfo } from "../io/ditJson.js";
import { Pipeline, recommendedSettings } from "../pipeline/pipeline.js";
import type { JobBackend } from "../serve/backend.js";
import { LocalJobQueue } from "../serve/localQueue.js";
import { ServiceMetrics } from "../serve/metrics.js";
import { createServer } from "../serve/server.js";
import {
  choiceOption, folderOption, intOption, parseArgs, rejectPositionals, rejectUnknownOptions, stringOption, threadsOption, UsageError,
} from "./args.js";
import { defaultModelDir, MAX_IMAGES } from "./generate.js";

export const SERVE_USAGE = `Usage: ditto serve [--model DIR] [--port P] [--host 127.0.0.1] [--max-queue Q] [--concurrency C] [--max-batch N]
                   [--queue redis://HOST:PORT [--queue-name ditto]] [--threads T] [--dtype f32|bf16] [--device auto|cpu|cuda[:N]]`;

/** A redis:// or rediss:// URL (`--queue`, `--redis`). */
export function redisUrlOption(args: ReturnType<typeof parseArgs>, name: string): string | undefined {
  const url = stringOption(args, name);
  if (url === undefined) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !["redis:", "rediss:"].includes(parsed.protocol) || !parsed.hostname) {
    throw new UsageError(`--${name} expects a URL like redis://127.0.0.1:6379 but received ${url}`);
  }
  return url;
}

/** A BullMQ queue name: letters, digits, '-', '_' and '.' (no ':', which BullMQ uses in its keys). */
export function queueNameOption(args: ReturnType<typeof parseArgs>, name: string): string {
  const queue = stringOption(args, name) ?? "ditto";
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(queue)) throw new UsageError(`--${name} expects letters, digits, '.', '_' or '-' (at most 100) but received ${queue}`);
  return queue;
}

export async function runServe(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ["help"]);
  if (args.options.has("help")) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return 0;
  }
  rejectUnknownOptions(args, ["model", "port", "host", "max-queue", "concurrency", "max-batch", "queue", "queue-name", "threads", "dtype", "device"], SERVE_USAGE);
  rejectPositionals(args, SERVE_USAGE);
  const modelDir = folderOption(args, "model", defaultModelDir());
  const port = intOption(args, "port", { min: 0, max: 65535, why: "0 picks a free port" }) ?? 8080;
  const host = stringOption(args, "host") ?? "127.0.0.1";
  const maxQueue = intOption(args, "max-queue", { min: 0, max: 1_000_000 }) ?? 16;
  const concurrency = intOption(args, "concurrency", { min: 1, max: 64 }) ?? 1;
  const maxBatch = intOption(args, "max-batch", { min: 1, max: MAX_IMAGES }) ?? 64;
  const queueUrl = redisUrlOption(args, "queue");
  if (!queueUrl && args.options.has("queue-name")) throw new UsageError("--queue-name needs --queue");
  const queueName = queueNameOption(args, "queue-name");
  const dtype = choiceOption(args, "dtype", ["f32", "bf16"] as const);
  const device = stringOption(args, "device") ?? "auto";
  if (!isDeviceSpec(device)) throw new UsageError(`--device expects auto, cpu, cuda or cuda:N but received ${device}`);
  const threads = threadsOption(args);
  if (queueUrl && (args.options.has("concurrency") || args.options.has("threads") || args.options.has("dtype") || args.options.has("device"))) {
    throw new UsageError("--concurrency, --threads, --dtype and --device set how jobs run locally; with --queue the workers run them (ditto worker)");
  }

  const metrics = new ServiceMetrics();
  const info = readFixtureInfo(modelDir);
  let backend: JobBackend;
  let pipe: Pipeline | undefined;
  if (queueUrl) {
    const { RedisJobQueue } = await import("../serve/redisQueue.js");
    backend = await RedisJobQueue.connect({ url: queueUrl, queue: queueName, maxQueue, metrics });
  } else {
    pipe = await Pipeline.load({ kind: "class-conditional", model: modelDir, threads, dtype, device });
    backend = new LocalJobQueue(pipe, { maxQueue, concurrency, metrics });
  }
  const defaults = { ...(pipe?.recommended ?? recommendedSettings(modelDir)), numClasses: info.numClasses };
  const app = await createServer({ backend, metrics, defaults, maxBatch });
  const address = await app.listen({ port, host });
  const url = new URL(address);
  process.stdout.write(`listening on http://${host}:${url.port}\n`);

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  process.stderr.write("ditto serve: shutting down\n");
  const closing = app.close(); // stops accepting; in-flight requests end as the backend cancels their jobs
  await backend.close();
  await closing;
  metrics.close();
  await pipe?.dispose();
  return 0;
}

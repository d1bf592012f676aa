// `ditto worker`: a BullMQ consumer of generation jobs (docs/serving.md, "Many nodes"). Loads the model once, takes
// jobs from the queue on Redis, writes OUT/<jobId>-<i>.png and returns { images: [paths], stats, worker } as the
// job's value (src/serve/worker.ts). Prints `worker ready on <url> queue <name>` on stdout once it takes jobs.
// SIGTERM / SIGINT: finish the running job(s), then exit; a SIGKILLed worker's job is recovered by BullMQ.
import { isDeviceSpec } from "../device.js";
import { readFixtureInfo } from "../io/ditJson.js";
import { Pipeline } from "../pipeline/pipeline.js";
import { startQueueWorker } from "../serve/worker.js";
import {
  choiceOption, folderOption, intOption, parseArgs, rejectPositionals, rejectUnknownOptions, stringOption, threadsOption, UsageError,
} from "./args.js";
import { defaultModelDir } from "./generate.js";
import { queueNameOption, redisUrlOption } from "./serve.js";

export const WORKER_USAGE = `Usage: ditto worker [--model DIR] --redis redis://HOST:PORT [--queue ditto] --out DIR [--concurrency C]
                    [--lock-duration MS] [--stalled-interval MS] [--threads T] [--dtype f32|bf16] [--device auto|cpu|cuda[:N]]`;

export async function runWorker(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ["help"]);
  if (args.options.has("help")) {
    process.stdout.write(`${WORKER_USAGE}\n`);
    return 0;
  }
  rejectUnknownOptions(args, ["model", "redis", "queue", "out", "concurrency", "lock-duration", "stalled-interval", "threads", "dtype", "device"], WORKER_USAGE);
  rejectPositionals(args, WORKER_USAGE);
  const modelDir = folderOption(args, "model", defaultModelDir());
  const url = redisUrlOption(args, "redis");
  if (!url) throw new UsageError(`give --redis redis://HOST:PORT (the queue's Redis)\n${WORKER_USAGE}`);
  const queue = queueNameOption(args, "queue");
  const out = stringOption(args, "out");
  if (!out) throw new UsageError(`give --out DIR (where the images are written)\n${WORKER_USAGE}`);
  const concurrency = intOption(args, "concurrency", { min: 1, max: 64 }) ?? 1;
  // BullMQ's defaults (30 s each); a smaller lock recovers a killed worker's job sooner but must outlast event-loop stalls.
  const lockDuration = intOption(args, "lock-duration", { min: 1000, max: 3_600_000 }) ?? 30_000;
  const stalledInterval = intOption(args, "stalled-interval", { min: 500, max: 3_600_000 }) ?? 30_000;
  const dtype = choiceOption(args, "dtype", ["f32", "bf16"] as const);
  const device = stringOption(args, "device") ?? "auto";
  if (!isDeviceSpec(device)) throw new UsageError(`--device expects auto, cpu, cuda or cuda:N but received ${device}`);
  const threads = threadsOption(args);
  const info = readFixtureInfo(modelDir);

  await using pipe = await Pipeline.load({ kind: "class-conditional", model: modelDir, threads, dtype, device });
  const worker = await startQueueWorker(pipe, { ...pipe.recommended, numClasses: info.numClasses }, {
    url, queue, out, concurrency, lockDuration, stalledInterval,
    log: (line) => process.stderr.write(`ditto worker: ${line}\n`),
  });
  process.stdout.write(`worker ready on ${url} queue ${queue}\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });
  process.stderr.write("ditto worker: finishing the running job(s), then exiting\n");
  await worker.close();
  return 0;
}

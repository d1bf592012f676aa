// The `ditto serve` / `ditto worker` command lines: every option is checked before any model loads (exact usage
// messages, in-process), and the built CLI (dist/, so this needs the build) keeps the contract line: `ditto serve
// --model DIR --port P --max-queue Q` prints `listening on http://HOST:P` once ready, answers /healthz, and exits 0
// on SIGTERM.
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";

import { UsageError } from "../../src/cli/args.js";
import { runServe } from "../../src/cli/serve.js";
import { runWorker, WORKER_USAGE } from "../../src/cli/worker.js";
import { REPO_ROOT } from "../shared-paths.js";

// In-process, any work past validation is a failure: the entry points of the work throw.
const { workStarted } = vi.hoisted(() => ({ workStarted: (what: string) => () => { throw new Error(`work started: ${what}`); } }));
vi.mock("../../src/pipeline/pipeline.js", async (original) => ({ ...(await original()), Pipeline: { load: workStarted("Pipeline.load") } }));
vi.mock("../../src/serve/redisQueue.js", async (original) => ({ ...(await original()), RedisJobQueue: { connect: workStarted("RedisJobQueue.connect") } }));

const CLI = path.join(REPO_ROOT, "dist/cli.js");
const MODEL = path.join(REPO_ROOT, "examples/models/glyphs");

async function usageMessage(run: Promise<number>): Promise<string> {
  const error = await run.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(UsageError);
  return (error as UsageError).message;
}

describe("ditto serve / worker options", () => {
  it.each([
    [["--port", "70000"], "--port expects an integer between 0 and 65535 (0 picks a free port) but received 70000"],
    [["--max-queue", "-1"], "--max-queue expects an integer between 0 and 1000000 but received -1"],
    [["--concurrency", "0"], "--concurrency expects an integer between 1 and 64 but received 0"],
    [["--max-batch", "0"], "--max-batch expects an integer between 1 and 10000 but received 0"],
    [["--queue", "http://127.0.0.1:6379"], "--queue expects a URL like redis://127.0.0.1:6379 but received http://127.0.0.1:6379"],
    [["--queue-name", "jobs"], "--queue-name needs --queue"],
    [["--queue", "redis://127.0.0.1:6379", "--queue-name", "a:b"], "--queue-name expects letters, digits, '.', '_' or '-' (at most 100) but received a:b"],
    [["--queue", "redis://127.0.0.1:6379", "--concurrency", "2"], "--concurrency, --threads, --dtype and --device set how jobs run locally; with --queue the workers run them (ditto worker)"],
    [["--model", "/nonexistent"], "--model expects a folder but /nonexistent is not one"],
  ])("serve %j", async (argv, message) => {
    expect(await usageMessage(runServe(argv))).toBe(message);
  });

  it.each([
    [["--out", "/tmp/x"], `give --redis redis://HOST:PORT (the queue's Redis)\n${WORKER_USAGE}`],
    [["--redis", "redis://127.0.0.1:6379"], `give --out DIR (where the images are written)\n${WORKER_USAGE}`],
    [["--redis", "127.0.0.1:6379", "--out", "/tmp/x"], "--redis expects a URL like redis://127.0.0.1:6379 but received 127.0.0.1:6379"],
    [["--redis", "redis://h:1", "--out", "/tmp/x", "--lock-duration", "10"], "--lock-duration expects an integer between 1000 and 3600000 but received 10"],
    [["--redis", "redis://h:1", "--out", "/tmp/x", "--stalled-interval", "1e3"], "--stalled-interval expects an integer between 500 and 3600000 but received 1e3"],
  ])("worker %j", async (argv, message) => {
    expect(await usageMessage(runWorker(argv))).toBe(message);
  });
});

describe("the built ditto serve", () => {
  it("prints `listening on http://HOST:P` once ready, answers /healthz and exits 0 on SIGTERM", async () => {
    const child = spawn(process.execPath, [CLI, "serve", "--model", MODEL, "--port", "0", "--max-queue", "2", "--threads", "1"], { stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    let stdout = "", stderr = "";
    child.stderr.on("data", (c: Buffer) => { stderr += c.toString(); });
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (c: Buffer) => {
        stdout += c.toString();
        if (stdout.includes("\n")) resolve(stdout.split("\n")[0]!);
      });
      child.once("exit", () => reject(new Error(`ditto serve exited before it was ready:\n${stderr}`)));
    });
    expect(line).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+$/);
    const url = line.slice("listening on ".length);
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: "ok", backend: "local pipeline on cpu", queue: { waiting: 0, running: 0 } });
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});

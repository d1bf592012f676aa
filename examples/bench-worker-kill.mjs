#!/usr/bin/env node
// Worker-kill fault test of `ditto worker` on BullMQ (docs/reliability.md "Service"): a redis-server on a free
// loopback port, two workers on one queue; per run a job goes on the queue, the worker that takes it is SIGKILLed
// mid-job, and BullMQ's stalled-job recovery must hand it to the other worker, which completes it. Counts, per run,
// the job's completions (must be exactly 1), failures (0), who completed it, BullMQ's stalled counter, and the time
// from the kill to the completion (bounded below by --lock-duration). A fresh worker replaces the killed one each run.
// Exits 1 when any run breaks the rule. Needs the build (npm run build), redis-server, bullmq and ioredis.
//
//   node examples/bench-worker-kill.mjs [--runs 5] [--steps 60] [--lock-duration 2000] [--stalled-interval 1000]
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { hostname, tmpdir } from "node:os";
import path from "node:path";

import { arg, repoRoot } from "./bench/common.mjs";

const require = createRequire(import.meta.url);
const { Queue, QueueEvents } = require("bullmq");
const { Redis } = require("ioredis");

const runs = Number(arg("runs", "5"));
const steps = Number(arg("steps", "60"));
const lockDuration = arg("lock-duration", "2000");
const stalledInterval = arg("stalled-interval", "1000");
const modelDir = path.resolve(repoRoot, arg("model", "examples/models/glyphs"));
const out = mkdtempSync(path.join(tmpdir(), "ditto-kill-"));

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
});
const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "inherit"] });
await new Promise((resolve) => { let log = ""; redis.stdout.on("data", (c) => { log += c; if (log.includes("Ready to accept")) resolve(); }); });
const url = `redis://127.0.0.1:${port}`;

function startWorker() {
  const child = spawn(process.execPath, [path.join(repoRoot, "dist/cli.js"), "worker", "--model", modelDir, "--redis", url, "--out", out,
    "--threads", "1", "--lock-duration", lockDuration, "--stalled-interval", stalledInterval], { stdio: ["ignore", "pipe", "pipe"] });
  const worker = { child, stderr: "", exited: new Promise((r) => child.once("exit", r)) };
  child.stderr.on("data", (c) => { worker.stderr += c; });
  worker.ready = new Promise((resolve, reject) => {
    let o = "";
    child.stdout.on("data", (c) => { o += c; if (o.includes("worker ready")) resolve(); });
    child.once("exit", (code) => reject(new Error(`ditto worker exited with ${code} before it was ready:\n${worker.stderr}`)));
  });
  return worker;
}

const connection = new Redis(url, { maxRetriesPerRequest: null });
const eventsConnection = connection.duplicate();
const queue = new Queue("ditto", { connection });
const events = new QueueEvents("ditto", { connection: eventsConnection });
const completions = new Map(), failures = new Map();
events.on("completed", ({ jobId }) => completions.set(jobId, (completions.get(jobId) ?? 0) + 1));
events.on("failed", ({ jobId }) => failures.set(jobId, (failures.get(jobId) ?? 0) + 1));
await events.waitUntilReady();

let workers = [startWorker(), startWorker()];
await Promise.all(workers.map((w) => w.ready));
const results = [];
for (let run = 0; run < runs; run++) {
  const job = await queue.add("generate", { classLabels: [run % 10], steps, seed: run }, { attempts: 3 });
  const started = new RegExp(`job ${job.id} started`);
  let victim;
  while (!(victim = workers.find((w) => started.test(w.stderr)))) await new Promise((r) => setTimeout(r, 10));
  const killedAt = performance.now();
  victim.child.kill("SIGKILL");
  await victim.exited;
  const survivor = workers.find((w) => w !== victim);
  const value = await job.waitUntilFinished(events);
  const recoveryMs = performance.now() - killedAt;
  const finished = await queue.getJob(job.id);
  const result = {
    run, job: job.id, recoveryMs: Math.round(recoveryMs), completions: completions.get(job.id) ?? 0, failures: failures.get(job.id) ?? 0,
    stalledCounter: finished.stalledCounter, completedBySurvivor: value.worker === `${hostname()}:${survivor.child.pid}`,
    files: readdirSync(out).filter((f) => f.startsWith(`${job.id}-`)),
  };
  console.log(JSON.stringify(result));
  results.push(result);
  const replacement = startWorker();
  await replacement.ready;
  workers = [survivor, replacement];
}
// Every run's job: exactly once, by the surviving worker, after one stall, one file and no partial file.
const exactlyOnce = results.filter((r) => r.completions === 1 && r.failures === 0 && r.completedBySurvivor && r.stalledCounter === 1
  && r.files.length === 1 && r.files[0] === `${r.job}-0.png`).length;
const sorted = results.map((r) => r.recoveryMs).sort((a, b) => a - b);
console.log(JSON.stringify({
  summary: true, runs, steps, lockDuration: Number(lockDuration), stalledInterval: Number(stalledInterval), exactlyOnce,
  counts: await queue.getJobCounts("completed", "failed", "waiting", "active"),
  recoveryMs: { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted.at(-1) },
}));
for (const w of workers) { w.child.kill("SIGTERM"); await w.exited; }
await events.close();
await queue.close();
eventsConnection.disconnect();
connection.disconnect();
redis.kill("SIGTERM");
rmSync(out, { recursive: true, force: true });
process.exitCode = exactlyOnce === runs ? 0 : 1;

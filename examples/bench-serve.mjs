#!/usr/bin/env node
// Load test of `ditto serve` on loopback with autocannon (docs/reliability.md "Service"; docs/serving.md). Bounded:
// a fixed number of requests per phase and a per-request timeout. Three measurements, in one run:
//   peer   the same requests as direct Pipeline.generate calls in this process (images/s without HTTP or queue);
//   below  autocannon with at most --max-queue connections against `ditto serve --max-queue Q --concurrency C`: the
//          queue can never overflow, so every request must answer 200 (zero lost, zero failed);
//   above  autocannon with --over × more connections than the service holds (C running + Q waiting): the surplus
//          must answer 429 with Retry-After, everything else 200, nothing 5xx, no socket errors or timeouts.
// Prints one JSON line per phase and a summary line with the service/peer throughput ratio and latency percentiles
// (ms); exits 1 when a phase breaks its rule. Needs the build (npm run build) and autocannon (a devDependency).
//
//   node examples/bench-serve.mjs [--requests 200] [--steps 4] [--labels 1] [--max-queue 8] [--concurrency 1]
//                                 [--over 4] [--threads 2] [--model examples/models/glyphs]
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";

import { arg, repoRoot } from "./bench/common.mjs";

const require = createRequire(import.meta.url);
const { Pipeline } = require(repoRoot);
const autocannon = require("autocannon");

const requests = Number(arg("requests", "200"));
const steps = Number(arg("steps", "4"));
const labels = Number(arg("labels", "1"));
const maxQueue = Number(arg("max-queue", "8"));
const concurrency = Number(arg("concurrency", "1"));
const over = Number(arg("over", "4"));
const threads = arg("threads", "2");
const modelDir = path.resolve(repoRoot, arg("model", "examples/models/glyphs"));
const body = JSON.stringify({ classLabels: Array.from({ length: labels }, (_, i) => i % 10), steps, seed: 0 });

/** The peer: the same generations run back to back in this process (no HTTP, no queue). */
async function peer() {
  const pipe = await Pipeline.load({ model: modelDir, threads: Number(threads) });
  try {
    const count = Math.min(requests, 50);
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const result = await pipe.generate(JSON.parse(body));
      result.latents.dispose();
      await Promise.all(result.images.map((image) => image.toPNG()));
    }
    const seconds = (performance.now() - start) / 1000;
    return { phase: "peer", requests: count, imagesPerSecond: (count * labels) / seconds, msPerRequest: (1000 * seconds) / count };
  } finally {
    await pipe.dispose();
  }
}

function startServe() {
  const child = spawn(process.execPath, [path.join(repoRoot, "dist/cli.js"), "serve", "--model", modelDir, "--port", "0",
    "--max-queue", String(maxQueue), "--concurrency", String(concurrency), "--threads", threads], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
      const match = /^listening on (http:\/\/\S+)$/m.exec(out);
      if (match) resolve({ child, url: match[1] });
    });
    child.once("exit", (code) => reject(new Error(`ditto serve exited with ${code} before it was ready`)));
  });
}

async function load(url, phase, connections) {
  const result = await autocannon({
    url: `${url}/v1/generate`, method: "POST", headers: { "content-type": "application/json" }, body,
    connections, amount: requests, timeout: 60,
  });
  const codes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]));
  const answered = Object.values(codes).reduce((a, b) => a + b, 0);
  const ok = codes["200"] ?? 0;
  return {
    phase, connections, requests, answered, codes, errors: result.errors, timeouts: result.timeouts, resets: result.resets,
    imagesPerSecond: (ok * labels) / result.duration,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
  };
}

const direct = await peer();
console.log(JSON.stringify(direct));
const { child, url } = await startServe();
let failures = [];
let below, above, metrics;
try {
  below = await load(url, "below", Math.max(1, maxQueue));
  console.log(JSON.stringify(below));
  if (below.answered !== requests || below.codes["200"] !== requests || below.errors || below.timeouts) {
    failures.push(`below capacity: expected ${requests} × 200 and no errors, got ${JSON.stringify(below.codes)}, ${below.errors} errors, ${below.timeouts} timeouts`);
  }
  above = await load(url, "above", over * (maxQueue + concurrency));
  console.log(JSON.stringify(above));
  const other = Object.keys(above.codes).filter((c) => c !== "200" && c !== "429");
  if (above.answered !== requests || !(above.codes["429"] > 0) || other.length || above.errors || above.timeouts) {
    failures.push(`above capacity: expected only 200 and some 429, no errors, got ${JSON.stringify(above.codes)}, ${above.errors} errors, ${above.timeouts} timeouts`);
  }
  const text = await (await fetch(`${url}/metrics`)).text();
  metrics = Object.fromEntries(text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => [l.slice(0, l.lastIndexOf(" ")), Number(l.slice(l.lastIndexOf(" ") + 1))]));
} finally {
  child.kill("SIGTERM");
}
console.log(JSON.stringify({
  summary: true, steps, labels, maxQueue, concurrency, threads: Number(threads),
  peerImagesPerSecond: direct.imagesPerSecond, serviceImagesPerSecond: below.imagesPerSecond,
  serviceOverPeer: below.imagesPerSecond / direct.imagesPerSecond,
  belowLatencyMs: below.latencyMs, above429: above?.codes["429"] ?? 0, above200: above?.codes["200"] ?? 0,
  eventLoopLagP99Ms: metrics ? 1000 * (metrics['ditto_event_loop_lag_seconds{quantile="0.99"}'] ?? 0) : null,
  failures,
}));
process.exitCode = failures.length ? 1 : 0;

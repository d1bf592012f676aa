#!/usr/bin/env node
// Concurrency and event-loop delay (issue 24, item 4): K generate() calls in flight on one pipeline, compared bit
// for bit with the same calls run one after another, with perf_hooks.monitorEventLoopDelay (1 ms resolution)
// recording the JS thread's delay during the concurrent burst (and, as the peer in the same run, during the
// sequential calls). Prints one JSON line.
//
//   node scripts/reliability/concurrency.mjs --calls 16 --n 8 --steps 10 --threads 1
// Needs `npm run build`. --threads 1 on a 2-core machine leaves a core to the JS thread (docs/reliability.md).
import { monitorEventLoopDelay } from "node:perf_hooks";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const { Pipeline } = await import(path.join(ROOT, "dist/index.js"));
const MODEL = path.join(ROOT, "examples/models/glyphs");

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}
const callsN = flag("calls", 16), n = flag("n", 8), steps = flag("steps", 10), threads = flag("threads", 1);
const calls = Array.from({ length: callsN }, (_, i) => ({
  classLabels: Array.from({ length: n }, (_, k) => (i + k) % 10),
  seed: 100 * i,
  steps,
  guidanceScale: 2 + (i % 3),
}));

const pipe = await Pipeline.load({ model: MODEL, threads });
(await pipe.generate(calls[0])).latents.dispose(); // warm: the workspace at this batch size

function histogram() {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  return () => {
    h.disable();
    return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
  };
}

let stop = histogram();
let t = performance.now();
const sequential = [];
for (const c of calls) {
  const out = await pipe.generate(c);
  sequential.push(Buffer.from(out.latents.toFloat32Array().buffer));
  out.latents.dispose();
}
const sequentialMs = performance.now() - t;
const sequentialDelay = stop();

stop = histogram();
t = performance.now();
const concurrent = await Promise.all(calls.map(async (c) => {
  const out = await pipe.generate(c);
  const bytes = Buffer.from(out.latents.toFloat32Array().buffer);
  out.latents.dispose();
  return bytes;
}));
const concurrentMs = performance.now() - t;
const concurrentDelay = stop();
await pipe.dispose();

const round = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number(v.toFixed(2))]));
console.log(JSON.stringify({
  calls: callsN, imagesPerCall: n, steps, threads,
  identical: concurrent.every((b, i) => b.equals(sequential[i])),
  sequential: { wallMs: Math.round(sequentialMs), loopDelayMs: round(sequentialDelay) },
  concurrent: { wallMs: Math.round(concurrentMs), loopDelayMs: round(concurrentDelay) },
  wallRatioConcurrentOverSequential: Number((concurrentMs / sequentialMs).toFixed(3)),
}));

#!/usr/bin/env node
// Leak runs (issue 24, item 5): N small generations on one pipeline, then M load / generate / dispose cycles of a
// pipeline, sampling the engine's allocation counter (src/memory.ts) and RSS after each. Prints one JSON line with
// least-squares slopes (bytes per iteration) over the second half of each run (the first half includes warm-up:
// the model's workspace, the storage cache, V8's heap growing to its working size) and the counter's spread.
//
//   node scripts/reliability/leaks.mjs --generations 1000 --cycles 100     # the full run (docs/reliability.md)
//   node scripts/reliability/leaks.mjs --generations 40 --cycles 8         # quick look
// Needs `npm run build`. Add --expose-gc (node --expose-gc …) to collect garbage before each sample.
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const { Pipeline, memory } = await import(path.join(ROOT, "dist/index.js"));
const MODEL = path.join(ROOT, "examples/models/glyphs");

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}
const generations = flag("generations", 1000), cycles = flag("cycles", 100), threads = flag("threads", 2);

// Least-squares slope of ys over their index, on the second half of the samples.
function slope(ys) {
  const tail = ys.slice(Math.floor(ys.length / 2));
  const n = tail.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2, my = tail.reduce((a, b) => a + b, 0) / n;
  let num = 0, den = 0;
  tail.forEach((y, x) => { num += (x - mx) * (y - my); den += (x - mx) ** 2; });
  return num / den;
}

async function quiet() {
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 5));
}

const base = memory().allocatedBytes;
const small = { classLabels: [3, 7], steps: 4, guidanceScale: 2 };

const gen = { allocated: [], rss: [] };
const pipe = await Pipeline.load({ model: MODEL, threads });
const t0 = performance.now();
for (let i = 0; i < generations; i++) {
  const out = await pipe.generate({ ...small, seed: i });
  out.latents.dispose();
  await quiet();
  gen.allocated.push(memory().allocatedBytes - base);
  gen.rss.push(process.memoryUsage.rss());
}
const genMs = performance.now() - t0;
await pipe.dispose();

const cyc = { allocated: [], rss: [] };
const t1 = performance.now();
for (let i = 0; i < cycles; i++) {
  const p = await Pipeline.load({ model: MODEL, threads });
  const out = await p.generate({ ...small, seed: i });
  out.latents.dispose();
  await p.dispose();
  // The model's job thread exits (freeing its kernel scratch) just after dispose: wait until the counter settles.
  for (let k = 0; k < 200 && memory().allocatedBytes !== base; k++) await new Promise((r) => setTimeout(r, 5));
  await quiet();
  cyc.allocated.push(memory().allocatedBytes - base);
  cyc.rss.push(process.memoryUsage.rss());
}
const cycMs = performance.now() - t1;

const summary = (s, n, ms) => ({
  iterations: n,
  msEach: Math.round(ms / Math.max(1, n)),
  allocatedMin: Math.min(...s.allocated),
  allocatedMax: Math.max(...s.allocated),
  allocatedSlopeBytesPerIteration: Number(slope(s.allocated).toFixed(1)),
  rssFirstMiB: Number((s.rss[0] / 2 ** 20).toFixed(1)),
  rssLastMiB: Number((s.rss[s.rss.length - 1] / 2 ** 20).toFixed(1)),
  rssSlopeBytesPerIteration: Math.round(slope(s.rss)),
});
console.log(JSON.stringify({
  node: process.version,
  gc: typeof globalThis.gc === "function",
  generations: summary(gen, generations, genMs),
  loadDisposeCycles: summary(cyc, cycles, cycMs),
  allocatedAtEnd: memory().allocatedBytes - base,
}));

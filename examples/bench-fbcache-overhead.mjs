#!/usr/bin/env node
// Overhead of the native First-Block Cache rule at batch 1 on the glyph DiT: a session step whose branch carries
// firstBlockCache with threshold 0 (it never hits, so it does the full forward plus the rule's work: the input
// snapshot, the first block's residual, the per-sample relative-L1 reduction, the stored residuals) against the
// same step without the rule, interleaved in one process; median ms per step.
//
//   node examples/bench-fbcache-overhead.mjs [--threads 2] [--iters 300] [--fixture DIR]
import { createRequire } from "node:module";
import path from "node:path";
import { arg, repoRoot } from "./bench/common.mjs";

const root = repoRoot;
const require = createRequire(import.meta.url);
const { loadModel, Tensor } = require(root);

const threads = Number(arg("threads", "2"));
const iters = Number(arg("iters", "300"));
const fixture = path.resolve(arg("fixture", path.join(root, "examples/models/glyphs")));

const model = await loadModel(fixture, { threads });
const c = model.config;
let s = 7;
const x = Tensor.from(Float32Array.from({ length: c.inChannels * c.inputSize * c.inputSize }, () => {
  s = (Math.imul(s, 1103515245) + 12345) >>> 0;
  return (s / 2 ** 32) * 2 - 1;
}), [1, c.inChannels, c.inputSize, c.inputSize]);
const session = model.session();
const plain = { branches: [{ labels: [3] }] };
const rule = { branches: [{ key: "fbc", labels: [3], firstBlockCache: { threshold: 0 } }] };
const median = (a) => a.sort((p, q) => p - q)[a.length >> 1];
const times = { plain: [], rule: [] };
for (let i = 0; i < 20; i++) { await session.step(x, [500], plain); await session.step(x, [500], rule); }
for (let i = 0; i < iters; i++) {
  for (const [name, request] of i % 2 ? [["plain", plain], ["rule", rule]] : [["rule", rule], ["plain", plain]]) {
    const t0 = performance.now();
    await session.step(x, [500], request);
    times[name].push(performance.now() - t0);
  }
}
const p = median(times.plain), r = median(times.rule);
console.log(`batch 1, ${threads} threads, ${iters} interleaved steps each: plain ${p.toFixed(3)} ms, ` +
  `first-block cache rule (never hitting) ${r.toFixed(3)} ms, overhead ${(r - p).toFixed(3)} ms (${((r / p - 1) * 100).toFixed(1)}%)`);
session.dispose();
model.dispose();

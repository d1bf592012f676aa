#!/usr/bin/env node
// End-to-end benchmark: images/s of the quality harness loop (glyph DiT, 50 Euler steps, CFG 4, labels k·10/N,
// Philox noise per seed, cond + uncond in one 2B batch) on Ditto's Pipeline vs the same loop on onnxruntime-node
// with dit.onnx (the loop's arithmetic in JS Float32Arrays), same thread count, same noise, measured in one run.
// Also checks that both produce the same images (max |Δx| of the final samples).
//
//   node examples/bench-e2e.mjs [--n 100] [--steps 50] [--cfg 4] [--batch 100] [--threads 2] [--fixture DIR] [--cache SPEC]
//
// --cache SPEC adds a row: the same Ditto loop with that block-cache policy (docs/caching.md), with its mean PSNR
// against Ditto's uncached images of the same run.
// Prints a markdown table (docs/benchmarks.md "End to end" keeps the latest).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { arg, repoRoot } from "./bench/common.mjs";

const root = repoRoot;
const require = createRequire(import.meta.url);
const { Pipeline, philoxGaussian, info } = require(root);

const n = Number(arg("n", "100")), steps = Number(arg("steps", "50")), cfg = Number(arg("cfg", "4"));
const batchSize = Number(arg("batch", "100")), threads = Number(arg("threads", "2"));
const fixture = path.resolve(arg("fixture", path.join(root, "../shared/fixtures/glyphs")));
const onnxPath = path.join(fixture, "dit.onnx");
const modelDir = existsSync(path.join(fixture, "dit.safetensors")) ? fixture : path.join(root, "examples/models/glyphs");

const labels = Array.from({ length: n }, (_, k) => Math.floor((k * 10) / n));
const C = 3, S = 32, per = C * S * S, nullLabel = 10;
const sigmas = Array.from({ length: steps + 1 }, (_, i) => Math.fround(1 - i / steps));

const cache = arg("cache", undefined);

async function runDitto(cacheSpec) {
  const pipe = await Pipeline.load({ model: modelDir, threads });
  const finals = [];
  const start = performance.now();
  for (let k0 = 0; k0 < n; k0 += batchSize) {
    const count = Math.min(batchSize, n - k0);
    const out = await pipe.generate({
      classLabels: labels.slice(k0, k0 + count), seed: Array.from({ length: count }, (_, i) => k0 + i), steps, guidanceScale: cfg,
      ...(cacheSpec ? { cache: cacheSpec } : {}),
    });
    finals.push(out.latents.toFloat32Array());
    out.latents.dispose();
  }
  const seconds = (performance.now() - start) / 1000;
  await pipe.dispose();
  return { seconds, finals };
}

async function runOrt() {
  let ort;
  try {
    ort = require("onnxruntime-node");
  } catch {
    return undefined;
  }
  const session = await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const finals = [];
  const start = performance.now();
  for (let k0 = 0; k0 < n; k0 += batchSize) {
    const count = Math.min(batchSize, n - k0);
    const x = new Float32Array(count * per);
    for (let i = 0; i < count; i++) x.set(philoxGaussian(k0 + i, per), i * per);
    const y = BigInt64Array.from([...labels.slice(k0, k0 + count), ...Array(count).fill(nullLabel)], BigInt);
    const both = new Float32Array(2 * count * per);
    for (let i = 0; i < steps; i++) {
      both.set(x, 0);
      both.set(x, count * per);
      const t = new Float32Array(2 * count).fill(Math.fround(1000 * sigmas[i]));
      const { v } = await session.run({
        x: new ort.Tensor("float32", both, [2 * count, C, S, S]),
        t: new ort.Tensor("float32", t, [2 * count]),
        y: new ort.Tensor("int64", y, [2 * count]),
      });
      const out = v.data, dt = Math.fround(sigmas[i + 1] - sigmas[i]), half = count * per;
      for (let j = 0; j < half; j++) {
        const vu = out[half + j];
        x[j] = Math.fround(x[j] + dt * Math.fround(vu + cfg * (out[j] - vu)));
      }
    }
    finals.push(x);
  }
  const seconds = (performance.now() - start) / 1000;
  await session.release?.();
  return { seconds, finals };
}

const ditto = await runDitto();
const cached = cache ? await runDitto(cache) : undefined;
const peer = existsSync(onnxPath) ? await runOrt() : undefined;
let maxDiff = 0;
if (peer) {
  ditto.finals.forEach((a, b) => {
    const p = peer.finals[b];
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - p[i]));
  });
}
const i = info();
console.log(`glyph DiT harness loop: N=${n}, ${steps} steps, CFG ${cfg} (2·${Math.min(batchSize, n)} per forward), ${threads} threads, ${i.cpu} (${i.isa}), Node ${process.versions.node}, ${os.cpus().length} cores\n`);
console.log("| engine | wall s | images/s | speed-up |");
console.log("|---|---|---|---|");
console.log(`| Ditto (f32) | ${ditto.seconds.toFixed(1)} | ${(n / ditto.seconds).toFixed(2)} | ${peer ? (peer.seconds / ditto.seconds).toFixed(2) + "×" : "–"} |`);
if (cached) {
  // PSNR of the final samples (x in [-1, 1], peak-to-peak 2) against Ditto's uncached ones, mean over images
  let sum = 0, count = 0;
  cached.finals.forEach((a, b) => {
    const u = ditto.finals[b];
    for (let k = 0; k < a.length / per; k++) {
      let se = 0;
      for (let j = k * per; j < (k + 1) * per; j++) se += (a[j] - u[j]) ** 2;
      sum += 10 * Math.log10(4 / (se / per));
      count++;
    }
  });
  console.log(`| Ditto (f32, --cache ${cache}) | ${cached.seconds.toFixed(1)} | ${(n / cached.seconds).toFixed(2)} | ${peer ? (peer.seconds / cached.seconds).toFixed(2) + "×" : "–"} (PSNR ${(sum / count).toFixed(1)} dB vs uncached) |`);
}
if (peer) console.log(`| onnxruntime-node (dit.onnx) | ${peer.seconds.toFixed(1)} | ${(n / peer.seconds).toFixed(2)} | 1.00× |`);
else console.log(`| onnxruntime-node | – | – | (not installed or ${onnxPath} missing) |`);
if (peer) console.log(`\nmax |Δx| of the final samples, Ditto vs onnxruntime: ${maxDiff.toExponential(2)}`);

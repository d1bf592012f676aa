#!/usr/bin/env node
// `npm run demo:forward`: load the glyph DiT (examples/models/glyphs, else ../shared/fixtures/glyphs) and run one forward of
// a batch of 10 noisy inputs (one per class) at t = 500, then print a summary (shape, time, kernel ISA, threads).
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { info, loadModel, Tensor } from "ditto-dit";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const candidates = [path.join(root, "examples/models/glyphs"), path.join(root, "../shared/fixtures/glyphs")];
const modelDir = candidates.find((dir) => existsSync(path.join(dir, "dit.safetensors")));
if (!modelDir) {
  console.error(`No glyph model found (looked in ${candidates.join(", ")})`);
  process.exit(1);
}

const model = await loadModel(modelDir); // plain JS on Node 20: dispose() at the end (TS: `await using`)
const { inChannels, inputSize, numClasses } = model.config;
const batch = numClasses;
let seed = 1234;
const uniform = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) + 0.5) / 2 ** 32;
const noise = Float32Array.from({ length: batch * inChannels * inputSize * inputSize }, () =>
  Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
const x = Tensor.from(noise, [batch, inChannels, inputSize, inputSize]);
const t = new Array(batch).fill(500);
const labels = Array.from({ length: batch }, (_, i) => i);

await model.forward(x, t, labels); // warm-up
const start = performance.now();
const v = await model.forward(x, t, labels);
const ms = performance.now() - start;
const values = v.toFloat32Array();
const rms = Math.sqrt(values.reduce((s, a) => s + a * a, 0) / values.length);
const { isa } = info();
console.log(`model   ${path.relative(process.cwd(), modelDir) || modelDir} (${model.config.layout} DiT, depth ${model.config.depth}, hidden ${model.config.hiddenSize})`);
console.log(`forward [${x.shape.join(", ")}] -> [${v.shape.join(", ")}] in ${ms.toFixed(1)} ms (rms ${rms.toFixed(3)})`);
console.log(`engine  ISA ${isa}, ${model.threads} threads, dtype ${model.dtype}`);
model.dispose();

#!/usr/bin/env node
// End-to-end generation throughput through the public API (Pipeline.generate: 50 flow-match Euler steps with CFG,
// each step one native job whose latents stay on the model's device), on the glyph DiT, for scripts/gpu-check.sh.
// Prints one JSON line per run: {"case", "device", "dtype", "batch", "steps", "ms", "imagesPerSecond"}; with --save it
// also writes the run's inputs and result (noise, labels, timesteps, step sizes, final latents) as safetensors so
// examples/bench/generate_torch.py runs the same model, batch and noise in PyTorch and compares its latents.
// Usage: node examples/bench/gpu_generate.mjs [--device cuda] [--dtype f32|bf16] [--batch 64] [--steps 50] [--cfg 4]
//                                            [--repeat 3] [--save FILE]
import path from "node:path";

import { arg, repoRoot as root } from "./common.mjs";

const ditto = await import(path.join(root, "dist/index.js"));
const { Pipeline, batchNoiseTensor, createGlyphReferenceScheduler, writeSafetensors } = ditto;

const device = arg("device", "cuda");
const dtype = arg("dtype", "f32");
const batch = Number(arg("batch", "64"));
const steps = Number(arg("steps", "50"));
const cfg = Number(arg("cfg", "4"));
const repeat = Number(arg("repeat", "3"));
const save = arg("save", "");
const model = path.join(root, "examples/models/glyphs");

const pipe = await Pipeline.load({ model, device, dtype });
const classLabels = Array.from({ length: batch }, (_, i) => i % 10);
const seed = Array.from({ length: batch }, (_, i) => 1000 + i);
const options = { classLabels, steps, guidanceScale: cfg, seed };
(await pipe.generate({ ...options, steps: 2 })).latents.dispose(); // warm-up: workspace, kernels, allocations
let best = Infinity;
let last;
for (let r = 0; r < repeat; r++) {
  last?.latents.dispose();
  const start = performance.now();
  last = await pipe.generate(options);
  best = Math.min(best, performance.now() - start);
}
console.log(JSON.stringify({
  case: `generate glyphs B=${batch} ${steps} steps cfg ${cfg}`, device: pipe.device, dtype, batch, steps,
  ms: Number(best.toFixed(3)), imagesPerSecond: Number((batch / (best / 1e3)).toFixed(2)),
}));
if (save) {
  const config = pipe.model.config;
  const noise = await batchNoiseTensor("philox", seed, [config.inChannels, config.inputSize, config.inputSize]);
  const scheduler = createGlyphReferenceScheduler();
  const timesteps = Float32Array.from(scheduler.timesteps(steps));
  const sigmas = scheduler.sigmas;
  const dts = Float32Array.from(timesteps, (_, i) => Math.fround(sigmas[i + 1] - sigmas[i]));
  const shape = [batch, config.inChannels, config.inputSize, config.inputSize];
  writeSafetensors(save, {
    noise: { dtype: "F32", shape, data: noise.toFloat32Array() },
    latents: { dtype: "F32", shape, data: last.latents.toFloat32Array() },
    labels: { dtype: "I64", shape: [batch], data: BigInt64Array.from(classLabels, (v) => BigInt(v)) },
    timesteps: { dtype: "F32", shape: [steps], data: timesteps },
    dts: { dtype: "F32", shape: [steps], data: dts },
    cfg: { dtype: "F32", shape: [1], data: Float32Array.of(cfg) },
  });
  noise.dispose();
}
last.latents.dispose();
await pipe.dispose();

#!/usr/bin/env node
// A sampling loop written by hand against the public API — what Pipeline.generate does, spelled out: Philox noise
// per sample seed, a scheduler with the diffusers contract (timesteps / step), one batched forward per step with the
// conditional and unconditional halves together, CFG v = v_u + s·(v_c − v_u) in native tensor ops, then PNGs.
//
//   node examples/custom-loop.mjs [--class 7] [--steps 50] [--cfg 4] [--seed 0] [--out custom.png]
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const { loadModel, Tensor, Image, makeGrid, philoxGaussian } = require(root);
const { createGlyphReferenceScheduler } = require(root); // the fixture's uniform flow-Euler sampler

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const label = Number(arg("class", "7")), steps = Number(arg("steps", "50")), cfg = Number(arg("cfg", "4"));
const seed = Number(arg("seed", "0")), out = arg("out", "custom.png");

const model = await loadModel(path.join(root, "examples/models/glyphs"));
const { inChannels: C, inputSize: S, numClasses } = model.config;
const batch = 4; // four samples of one class, seeds seed … seed+3

// Initial noise: sample i depends only on its own seed.
const noise = new Float32Array(batch * C * S * S);
for (let i = 0; i < batch; i++) noise.set(philoxGaussian(seed + i, C * S * S), i * C * S * S);
let x = Tensor.from(noise, [batch, C, S, S]);

const scheduler = createGlyphReferenceScheduler();
const labels = [...Array(batch).fill(label), ...Array(batch).fill(numClasses)]; // cond half, then null label
for (const t of scheduler.timesteps(steps)) {
  const both = Tensor.concat([x, x]);
  const v = await model.forward(both, new Float32Array(2 * batch).fill(t), labels);
  const cond = v.slice(0, batch), uncond = v.slice(batch, 2 * batch);
  const guided = uncond.add(cond.sub(uncond).scale(cfg));
  const next = scheduler.step(guided, t, x);
  for (const tensor of [both, v, cond, uncond, guided, x]) tensor.dispose();
  x = next;
}
const images = Image.fromModelSpace(x.toFloat32Array(), x.shape);
await makeGrid(images, { columns: batch }).upscale(4).save(out);
console.log(path.resolve(out));
model.dispose();

#!/usr/bin/env node
// Event-loop responsiveness during Pipeline.generate at a large batch (issue 22, defect 5): the delay histogram of
// perf_hooks.monitorEventLoopDelay (1 ms resolution) and the longest gap seen by a 5 ms setInterval, while the glyph
// DiT generates --n images (default 200, CFG on: forwards of 2n) in --steps steps. Then each O(batch) piece of a
// generation on its own, as main-thread (blocking) milliseconds, with the longest event-loop gap while it ran:
// initial noise (TypeScript generator vs the native off-thread one), one forward (on the model's job thread), one
// whole step as one session job (forward, CFG and the Euler update natively: what generate does now), the same
// step's tensor arithmetic as separate JS-thread calls (the path kept for multistep schedulers and inpainting), and
// the final conversion to u8 images (TypeScript vs native off-thread).
//
//   node examples/bench-eventloop.mjs [--n 200] [--steps 4] [--cfg 4] [--threads 2] [--model examples/models/glyphs]
//
// Needs the built addon and dist/ (npm run build). No assertions: docs/reliability.md "Event loop" keeps the figures.
import { createRequire } from "node:module";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { arg, repoRoot } from "./bench/common.mjs";

const root = repoRoot;
const require = createRequire(import.meta.url);
const { Pipeline, Tensor, Image, batchNoiseTensor, philoxGaussian, createGlyphReferenceScheduler, info } = require(root);

const n = Number(arg("n", "200")), steps = Number(arg("steps", "4")), cfg = Number(arg("cfg", "4"));
const threads = Number(arg("threads", "2"));
const modelDir = path.resolve(root, arg("model", "examples/models/glyphs"));

/**
 * Runs `fn` (sync or async) while a 5 ms interval watches the loop; returns wall ms, blocking ms, the max gap and
 * the process's minor page faults meanwhile (fresh memory touched: load-independent, unlike the times).
 */
async function watch(fn) {
  let last = performance.now(), maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  await new Promise((r) => setTimeout(r, 20)); // let the interval start ticking
  last = performance.now();
  const faults0 = process.resourceUsage().minorPageFault;
  const t0 = performance.now();
  const pending = fn();
  const blocking = performance.now() - t0; // time before fn returned control (its synchronous part)
  const result = await pending;
  const wall = performance.now() - t0;
  const faults = process.resourceUsage().minorPageFault - faults0;
  await new Promise((r) => setTimeout(r, 10)); // the gap that ends with this call is measured by the next tick
  maxGap = Math.max(maxGap, performance.now() - last - 10);
  clearInterval(timer);
  return { result, wall, blocking, maxGap, faults };
}

const fmt = (x) => x.toFixed(1);

const pipe = await Pipeline.load({ model: modelDir, threads });
const model = pipe.model;
const { inChannels: C, inputSize: S, numClasses } = model.config;
const per = C * S * S;
const labels = Array.from({ length: n }, (_, k) => k % numClasses);
const seeds = Array.from({ length: n }, (_, k) => k);
await pipe.generate({ classLabels: labels.slice(0, 4), steps: 1, guidanceScale: cfg, seed: 0 }); // warm-up

// 1. The whole generation under monitorEventLoopDelay, twice: the first run at this batch size touches fresh memory
// (the model's workspace, the storage cache's first blocks of each size), the second is the steady state.
const ms = (ns) => ns / 1e6;
const runs = [];
for (const label of ["first at this batch size", "again"]) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const stepMs = [];
  histogram.enable();
  const whole = await watch(() => pipe.generate({ classLabels: labels, steps, guidanceScale: cfg, seed: 0, onStep: (e) => stepMs.push(e.ms) }));
  histogram.disable();
  whole.result.latents.dispose();
  runs.push({ label, histogram, stepMs, whole });
}

// 2. The pieces.
const tsNoise = await watch(() => {
  const out = new Float32Array(n * per);
  seeds.forEach((seed, i) => out.set(philoxGaussian(seed, per), i * per));
  return out;
});
const nativeNoise = await watch(() => batchNoiseTensor("philox", seeds, [C, S, S]));
const x = nativeNoise.result;
const input = Tensor.concat([x, x]);
const forwardLabels = Int32Array.from([...labels, ...labels.map(() => numClasses)]);
const forward = await watch(() => model.forward(input, new Float32Array(2 * n).fill(500), forwardLabels));
const modelOut = forward.result;
const scheduler = createGlyphReferenceScheduler();
const timesteps = scheduler.timesteps(steps);
const stepArithmetic = () => {
  // What Pipeline.generate does on the JS thread per CFG step around the forward.
  const next = Tensor.concat([x, x]);
  const cond = modelOut.slice(0, n), uncond = modelOut.slice(n, 2 * n);
  const diff = cond.sub(uncond), guided = diff.scale(cfg), velocity = uncond.add(guided);
  scheduler.reset(); // each timed call is the schedule's first step (so --steps 1 works too)
  const stepped = scheduler.step(velocity, timesteps[0], x);
  for (const t of [next, cond, uncond, diff, guided, velocity, stepped]) t.dispose();
};
// What Pipeline.generate does per step now (flow-match Euler): the branches, the CFG combination and the update in
// one job on the model's thread.
const session = model.session();
const fusedStep = await watch(() =>
  session.step(x, new Float32Array(n).fill(500), {
    branches: [{ labels }, { labels: labels.map(() => numClasses) }],
    epilogue: { branchWeights: [cfg, 1 - cfg], anchor: 1, a: 1, c: -1 / steps },
    returnBranchOutputs: false,
  }),
);
fusedStep.result.guided?.dispose();
fusedStep.result.next?.dispose();
session.dispose();
const arithmetic = await watch(stepArithmetic);
const arithmeticAgain = await watch(stepArithmetic);
const tsImages = await watch(() => Image.fromModelSpace(x.toFloat32Array(), [n, C, S, S]));
const nativeImages = await watch(() => Image.fromTensor(x));
for (const t of [x, input, modelOut]) t.dispose();
await pipe.dispose();

console.log(`glyph DiT, ${n} images (forward batch ${2 * n}), ${steps} steps, CFG ${cfg}, ${threads} threads, ISA ${info().isa}\n`);
console.log("| generate | wall ms | step ms (each) | loop delay p50 | p99 | max | 5 ms interval: longest gap | minor page faults |");
console.log("|---|---|---|---|---|---|---|---|");
for (const { label, histogram, stepMs, whole } of runs) {
  console.log(
    `| ${n} images, ${label} | ${fmt(whole.wall)} | ${stepMs.map(fmt).join(", ")} | ${fmt(ms(histogram.percentile(50)))} | ` +
      `${fmt(ms(histogram.percentile(99)))} | ${fmt(ms(histogram.max))} | ${fmt(whole.maxGap)} | ${whole.faults} |`,
  );
}
console.log("\n| piece (batch " + n + ") | where it runs | blocks the loop ms | wall ms | longest loop gap ms | minor page faults |");
console.log("|---|---|---|---|---|---|");
const row = (name, where, r) => console.log(`| ${name} | ${where} | ${fmt(r.blocking)} | ${fmt(r.wall)} | ${fmt(r.maxGap)} | ${r.faults} |`);
row("initial noise, TypeScript philoxGaussian (before)", "JS thread", tsNoise);
row("initial noise, batchNoiseTensor", "libuv pool", nativeNoise);
row("forward (2n samples)", "model job thread", forward);
row("one step as one session job (forward + CFG + Euler epilogue; the pipeline's path)", "model job thread", fusedStep);
row("CFG step arithmetic as separate calls (concat, 2 slices, sub, scale, add, Euler step), first", "JS thread (native ops)", arithmetic);
row("the same again (storage cache warm)", "JS thread (native ops)", arithmeticAgain);
row("u8 images, Image.fromModelSpace (before)", "JS thread", tsImages);
row("u8 images, Image.fromTensor", "libuv pool", nativeImages);

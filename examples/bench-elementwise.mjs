#!/usr/bin/env node
// Element-wise Tensor ops (add, sub, mul, scale, lerp, combine, clone, concat, slice) against a plain JS loop over
// Float32Arrays doing the same arithmetic, in the same process, on a sampler-sized tensor (default [400, 3, 32, 32],
// a batch-200 CFG step). Each row: median and best time of --iters calls (each call allocates its result, as the
// Tensor API does, and the result is disposed), and effective bandwidth = (bytes read + bytes written) / median time.
// The reference line is this machine's memcpy bandwidth (TypedArray.set between two buffers larger than the caches,
// counted as read + write), so "GB/s vs memcpy" says how close each op is to what memory allows.
//
//   node examples/bench-elementwise.mjs [--shape 400,3,32,32] [--iters 50]
//
// Needs the built addon and dist/ (npm run build).
import { Tensor } from "../dist/index.js";
import { arg } from "./bench/common.mjs";

const shape = arg("shape", "400,3,32,32").split(",").map(Number);
const iters = Number(arg("iters", "50"));
const n = shape.reduce((a, b) => a * b, 1);
const bytes = n * 4;

function random(count, seed) {
  const out = new Float32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function time(fn) {
  for (let i = 0; i < 3; i++) fn(); // warm-up (JIT, allocator)
  const samples = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[samples.length >> 1], best: samples[0] };
}

// memcpy reference: copy between two 256 MiB buffers (far beyond any cache), read + write bytes.
const big = 64 * 1024 * 1024;
const src = new Float32Array(big).fill(1), dst = new Float32Array(big);
const memcpy = time(() => dst.set(src));
const memcpyGBs = (2 * big * 4) / (memcpy.median * 1e6);

const xa = random(n, 1), ya = random(n, 2), za = random(n, 3);
const x = Tensor.from(xa, shape), y = Tensor.from(ya, shape), z = Tensor.from(za, shape);
const half = shape[0] >> 1;
const rowSize = n / shape[0];

// [name, native call returning a Tensor, JS loop returning a Float32Array, streams (arrays read + written)]
const cases = [
  ["add", () => x.add(y), () => { const o = new Float32Array(n); for (let i = 0; i < n; i++) o[i] = xa[i] + ya[i]; return o; }, 3],
  ["sub", () => x.sub(y), () => { const o = new Float32Array(n); for (let i = 0; i < n; i++) o[i] = xa[i] - ya[i]; return o; }, 3],
  ["mul", () => x.mul(y), () => { const o = new Float32Array(n); for (let i = 0; i < n; i++) o[i] = xa[i] * ya[i]; return o; }, 3],
  ["scale", () => x.scale(0.5), () => { const o = new Float32Array(n); for (let i = 0; i < n; i++) o[i] = xa[i] * 0.5; return o; }, 2],
  ["lerp", () => x.lerp(y, 0.25), () => { const o = new Float32Array(n); for (let i = 0; i < n; i++) o[i] = xa[i] + 0.25 * (ya[i] - xa[i]); return o; }, 3],
  ["combine(3)", () => Tensor.combine([[0.5, x], [0.25, y], [-1, z]]),
    () => { const o = new Float32Array(n); for (let i = 0; i < n; i++) o[i] = 0.5 * xa[i] + 0.25 * ya[i] - za[i]; return o; }, 4],
  ["clone", () => x.clone(), () => xa.slice(), 2],
  ["concat(2)", () => Tensor.concat([x, y]), () => { const o = new Float32Array(2 * n); o.set(xa); o.set(ya, n); return o; }, 4],
  ["slice(half)", () => x.slice(0, half), () => xa.slice(0, half * rowSize), 1],
];

console.log(`shape [${shape.join(", ")}] (${(bytes / 1e6).toFixed(1)} MB per tensor), ${iters} iterations, median (best)`);
console.log(`memcpy bandwidth (TypedArray.set, 256 MiB, read + write): ${memcpyGBs.toFixed(1)} GB/s\n`);
console.log("| op | native ms | native GB/s | % of memcpy | JS loop ms | JS GB/s | native speed-up |");
console.log("|---|---|---|---|---|---|---|");
for (const [name, nativeOp, jsOp, streams] of cases) {
  const moved = name === "slice(half)" ? 2 * (half * rowSize * 4) : streams * bytes;
  const nat = time(() => nativeOp().dispose());
  const js = time(() => jsOp());
  const gbs = moved / (nat.median * 1e6);
  console.log(
    `| ${name} | ${nat.median.toFixed(2)} (${nat.best.toFixed(2)}) | ${gbs.toFixed(1)} | ${((100 * gbs) / memcpyGBs).toFixed(0)}% | ` +
      `${js.median.toFixed(2)} (${js.best.toFixed(2)}) | ${(moved / (js.median * 1e6)).toFixed(1)} | ${(js.median / nat.median).toFixed(1)}× |`,
  );
}
for (const t of [x, y, z]) t.dispose();

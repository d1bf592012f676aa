#!/usr/bin/env node
// Same-process A/B of the raw forward between two addon builds (e.g. the previous commit's prebuild and this
// one): both load the glyph DiT, and their forwards alternate call by call, so machine load hits both alike.
// Prints median ms per forward per batch and the ratio new / base.
//
//   node examples/bench-forward-ab.mjs --base OTHER/prebuilds/linux-x64/ditto-dit.napi.node
//        [--new prebuilds/linux-x64/ditto-dit.napi.node] [--threads 2] [--batches 1,2,16,64] [--seconds 3]
import { createRequire } from "node:module";
import path from "node:path";
import { arg, repoRoot } from "./bench/common.mjs";

const root = repoRoot;
const require = createRequire(import.meta.url);
const builds = {
  base: path.resolve(arg("base", "")),
  new: path.resolve(arg("new", path.join(root, "prebuilds/linux-x64/ditto-dit.napi.node"))),
};
const threads = Number(arg("threads", "2"));
const batches = arg("batches", "1,2,16,64").split(",").map(Number);
const seconds = Number(arg("seconds", "3"));
const fixture = path.join(root, "examples/models/glyphs");

const models = {};
const addons = {};
for (const [name, file] of Object.entries(builds)) {
  addons[name] = require(file);
  models[name] = await addons[name].loadModel(fixture, { threads, dtype: "f32" });
}
const median = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
console.log(`| batch | base ms | new ms | new / base |\n|---|---|---|---|`);
for (const b of batches) {
  const n = b * 3 * 32 * 32;
  let s = 12345 + b;
  const x = Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1);
  const t = Float32Array.from({ length: b }, (_, i) => (i * 97) % 1000);
  const y = Int32Array.from({ length: b }, (_, i) => i % 11);
  const inputs = Object.fromEntries(Object.keys(builds).map((k) => [k, addons[k].NativeTensor.fromFloat32(x, [b, 3, 32, 32])]));
  const times = { base: [], new: [] };
  for (let i = 0; i < 3; i++) for (const k of ["base", "new"]) await models[k].forward(inputs[k], t, y);
  const end = performance.now() + seconds * 2000;
  for (let i = 0; performance.now() < end || times.base.length < 5; i++) {
    for (const k of i % 2 ? ["base", "new"] : ["new", "base"]) {
      const t0 = performance.now();
      await models[k].forward(inputs[k], t, y);
      times[k].push(performance.now() - t0);
    }
  }
  const [mb, mn] = [median(times.base), median(times.new)];
  console.log(`| ${b} | ${mb.toFixed(2)} | ${mn.toFixed(2)} | ${(mn / mb).toFixed(3)} |`);
}
for (const m of Object.values(models)) m.dispose();

#!/usr/bin/env node
// Forward-pass benchmark of the glyph DiT: Ditto (f32 and bf16) vs onnxruntime-node (dit.onnx) vs PyTorch eager
// (examples/bench/dit_torch.py, /usr/bin/python3), all with the same thread count, measured in one run.
//
//   node examples/bench-forward.mjs [--threads 2] [--batches 1,2,16,64] [--seconds 2] [--fixture DIR]
//
// Prints a markdown table of median ms per forward and Ditto's speed-up over each peer.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { arg, repoRoot } from "./bench/common.mjs";

const root = repoRoot;
const require = createRequire(import.meta.url);
const { loadModel, Tensor } = require(root);

const threads = Number(arg("threads", "2"));
const batches = arg("batches", "1,2,16,64").split(",").map(Number);
const seconds = Number(arg("seconds", "2"));
const fixture = path.resolve(arg("fixture", existsSync(path.join(root, "../shared/fixtures/glyphs/dit.onnx"))
  ? path.join(root, "../shared/fixtures/glyphs") : path.join(root, "examples/models/glyphs")));

function inputs(batch, channels, size) {
  // Deterministic, non-trivial inputs (an LCG; the values do not matter for timing).
  let s = 12345 + batch;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const x = new Float32Array(batch * channels * size * size).map(() => rnd() * 2 - 1);
  const t = Float32Array.from({ length: batch }, () => rnd() * 1000);
  const y = Int32Array.from({ length: batch }, (_, i) => i % 11);
  return { x, t, y };
}

async function time(fn) {
  for (let i = 0; i < 3; i++) await fn();
  const times = [];
  const start = performance.now();
  while (performance.now() - start < seconds * 1000 || times.length < 5) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

const results = {};
const f32 = await loadModel(fixture, { threads, dtype: "f32" });
const bf16 = await loadModel(fixture, { threads, dtype: "bf16" });
const config = f32.config;
const { inChannels: C, inputSize: S } = config;
let ort = null;
try {
  ort = await import("onnxruntime-node");
} catch {
  console.error("onnxruntime-node not installed: its column is skipped");
}
const session = ort && await ort.InferenceSession.create(path.join(fixture, "dit.onnx"), {
  intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all",
});
for (const b of batches) {
  const { x, t, y } = inputs(b, C, S);
  const xt = Tensor.from(x, [b, C, S, S]);
  results[b] = {
    dittoF32: await time(() => f32.forward(xt, t, y)),
    dittoBf16: await time(() => bf16.forward(xt, t, y)),
  };
  if (session) {
    const feeds = {
      x: new ort.Tensor("float32", x, [b, C, S, S]),
      t: new ort.Tensor("float32", t, [b]),
      y: new ort.Tensor("int64", BigInt64Array.from(y, BigInt), [b]),
    };
    results[b].ort = await time(() => session.run(feeds));
  }
}
await f32.dispose();
await bf16.dispose();

const torch = spawnSync("/usr/bin/python3", [path.join(root, "examples/bench/dit_torch.py"), "--weights", fixture,
  "--threads", String(threads), "--batches", batches.join(","), "--seconds", String(seconds)], { encoding: "utf8" });
let torchResults = null;
if (torch.status === 0) torchResults = JSON.parse(torch.stdout.trim().split("\n").pop());
else console.error("PyTorch peer unavailable (apt-get install python3-torch): its columns are skipped\n" + (torch.stderr || ""));

const fmt = (v) => (v === undefined ? "–" : v.toFixed(2));
const ratio = (peer, ours) => (peer === undefined ? "–" : `${(peer / ours).toFixed(2)}x`);
console.log(`\nGlyph DiT forward (${config.depth} blocks, hidden ${config.hiddenSize}, ${(S / config.patchSize) ** 2} tokens), ` +
  `${threads} threads, median ms per forward${torchResults ? `, torch ${torchResults.torch}` : ""}\n`);
console.log("| batch | Ditto f32 | Ditto bf16 | onnxruntime f32 | torch f32 | torch bf16 | ort / Ditto f32 | torch f32 / Ditto f32 | torch bf16 / Ditto bf16 |");
console.log("|---|---|---|---|---|---|---|---|---|");
for (const b of batches) {
  const r = results[b];
  const tr = torchResults?.results[String(b)] ?? {};
  console.log(`| ${b} | ${fmt(r.dittoF32)} | ${fmt(r.dittoBf16)} | ${fmt(r.ort)} | ${fmt(tr.f32)} | ${fmt(tr.bf16)} | ` +
    `${ratio(r.ort, r.dittoF32)} | ${ratio(tr.f32, r.dittoF32)} | ${ratio(tr.bf16, r.dittoBf16)} |`);
}

// The low-rank weak model's derivation (src/guidance/lowRank.ts, ditto/low_rank.h) against numpy's LAPACK SVD
// truncation (the reference examples/bench/weak_variants.py uses) on the same matrices, one thread each: time per
// matrix and the ratio, for DiT-XL/2's and DiT-B/2's block shapes. Then a whole DiT-XL/2 block set (4 matrices per
// block) through lowRankContent while the JS thread is sampled: the longest event-loop stall during the derivation.
//   node examples/bench/low-rank.mjs [--blocks 2]    (OPENBLAS_NUM_THREADS=1 is set for the numpy peer)
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";

import { arg, repoRoot } from "./common.mjs";

const { truncateRank, lowRankContent } = await import(path.join(repoRoot, "dist/index.js"));
const blocks = Number(arg("blocks", "2"));
const SHAPES = [[1152, 1152], [3456, 1152], [4608, 1152], [1152, 4608], [768, 768], [3072, 768]];
const RANK = 0.6;

function randomMatrix(n, seed) {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5);
}

const dir = mkdtempSync(path.join(os.tmpdir(), "ditto-low-rank-bench-"));
try {
  console.log("| shape (out × in) | rank | ditto (s) | numpy SVD (s) | numpy / ditto |\n|---|---|---|---|---|");
  for (const [out, inp] of SHAPES) {
    const w = randomMatrix(out * inp, out + inp), rank = Math.round(RANK * Math.min(out, inp));
    let t = performance.now();
    await truncateRank(w, out, inp, rank);
    const ours = (performance.now() - t) / 1000;
    const file = path.join(dir, "w.f32");
    writeFileSync(file, w);
    const py = `import numpy as np, time\nw = np.fromfile("${file}", np.float32).reshape(${out}, ${inp}).astype(np.float64)\nt = time.perf_counter()\nu, s, vt = np.linalg.svd(w, full_matrices=False)\nr = (u[:, :${rank}] * s[:${rank}]) @ vt[:${rank}]\nprint(time.perf_counter() - t)`;
    const theirs = Number(execFileSync("/usr/bin/python3", ["-c", py], { env: { ...process.env, OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" } }).toString());
    console.log(`| ${out} × ${inp} | ${rank} | ${ours.toFixed(2)} | ${theirs.toFixed(2)} | ${(theirs / ours).toFixed(2)} |`);
  }
  const tensors = new Map();
  for (let b = 0; b < blocks; b++) {
    for (const [name, shape] of [["attn.qkv", [3456, 1152]], ["attn.proj", [1152, 1152]], ["mlp.fc1", [4608, 1152]], ["mlp.fc2", [1152, 4608]]]) {
      tensors.set(`blocks.${b}.${name}.weight`, { dtype: "F32", shape, data: randomMatrix(shape[0] * shape[1], b * 7 + shape[0]) });
    }
  }
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const t = performance.now();
  await lowRankContent({ tensors, metadata: {} }, RANK);
  delay.disable();
  console.log(`\nDiT-XL/2, ${blocks} blocks (${4 * blocks} matrices) through lowRankContent: ${((performance.now() - t) / 1000).toFixed(1)} s on ${os.availableParallelism()} cores; longest event-loop stall ${(delay.max / 1e6).toFixed(1)} ms (p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

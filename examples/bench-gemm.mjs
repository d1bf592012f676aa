#!/usr/bin/env node
// GEMM benchmark: Ditto's packed GEMM (native/bench/bench_gemm) vs torch.nn.functional.linear
// (examples/bench/gemm_torch.py on /usr/bin/python3) on DiT Linear shapes, f32 and bf16, same thread count.
//
//   node examples/bench-gemm.mjs [--threads 2] [--m 64,256,1024,4096] [--quick] [--bin PATH]
//
// Prints a markdown table (GFLOP/s = 2·M·N·K / median time) with the Ditto/torch ratio per shape, then per
// dtype the median ratio and the ratio of median throughputs. The torch column is skipped when
// `/usr/bin/python3 -c "import torch"` fails. Build first: cmake --build <dir> --target bench_gemm.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { arg, repoRoot } from "./bench/common.mjs";

const root = repoRoot;

const threads = arg("threads", "2");
const ms = arg("m", "64,256,1024,4096");
const quick = process.argv.includes("--quick");
const candidates = [arg("bin", ""), "build-native/bench_gemm", "build-gemm/bench_gemm", "build/native/bench_gemm"];
const bin = candidates.filter(Boolean).map((p) => path.resolve(root, p)).find((p) => existsSync(p));
if (!bin) {
  console.error(`bench_gemm not found (tried ${candidates.filter(Boolean).join(", ")}); build it or pass --bin`);
  process.exit(1);
}

function runJson(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const extra = quick ? ["--quick"] : [];
const ours = runJson(bin, ["--threads", threads, "--m", ms, "--json", ...extra]);
const hasTorch = spawnSync("/usr/bin/python3", ["-c", "import torch"]).status === 0;
const torch = hasTorch
  ? runJson("/usr/bin/python3", [path.join(root, "examples/bench/gemm_torch.py"), "--threads", threads, "--m", ms, ...extra])
  : null;
const key = (r) => `${r.m}x${r.k}x${r.n}/${r.dtype}`;
const torchBy = new Map((torch?.results ?? []).map((r) => [key(r), r.gflops]));
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

console.log(`GEMM GFLOP/s, threads=${ours.threads}${torch ? `, torch ${torch.torch}` : " (torch unavailable)"}\n`);
console.log("| M | K | N | dtype | ditto (isa) | torch | ditto/torch |");
console.log("|---:|---:|---:|---|---:|---:|---:|");
const byDtype = {};
for (const r of ours.results) {
  const t = torchBy.get(key(r));
  const ratio = t ? r.gflops / t : null;
  (byDtype[r.dtype] ??= { ours: [], torch: [], ratio: [] }).ours.push(r.gflops);
  if (t) {
    byDtype[r.dtype].torch.push(t);
    byDtype[r.dtype].ratio.push(ratio);
  }
  console.log(`| ${r.m} | ${r.k} | ${r.n} | ${r.dtype} | ${r.gflops.toFixed(1)} (${r.isa}) | ${t ? t.toFixed(1) : "-"} | ${ratio ? ratio.toFixed(2) : "-"} |`);
}
console.log("");
for (const [dtype, v] of Object.entries(byDtype)) {
  const line = `${dtype}: median ditto ${median(v.ours).toFixed(1)} GFLOP/s`;
  console.log(v.torch.length
    ? `${line}, median torch ${median(v.torch).toFixed(1)} GFLOP/s, ratio of medians ${(median(v.ours) / median(v.torch)).toFixed(2)}, median per-shape ratio ${median(v.ratio).toFixed(2)}`
    : line);
}

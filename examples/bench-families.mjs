#!/usr/bin/env node
// One forward per text-conditioned family at a realistic small size, Ditto vs PyTorch eager on the same weights,
// inputs and thread count, measured in one run. examples/bench/families_torch.py (plain torch, /usr/bin/python3)
// builds SD3.5-style MMDiT, Flux, PixArt-Σ-style and Wan2.1-style checkpoints with random weights under the diffusers names, writes them with one
// batch of inputs and its own output to a temporary folder, and times its forward; Ditto then loads the same
// folders, checks its output against torch's (max |diff|) and times its forward.
//
//   node examples/bench-families.mjs [--threads 2] [--batch 1] [--seconds 3] [--dtype f32|bf16] [--families sd3,flux,pixart,wan]
//
// Prints a markdown table of median ms per forward and torch / Ditto.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { arg, repoRoot } from "./bench/common.mjs";

const require = createRequire(import.meta.url);
const { loadModel, readSafetensors, Tensor } = require(repoRoot);

const threads = Number(arg("threads", "2"));
const batch = Number(arg("batch", "1"));
const seconds = Number(arg("seconds", "3"));
const dtype = arg("dtype", "f32");
const families = arg("families", "sd3,flux,pixart,wan");
const dir = mkdtempSync(path.join(tmpdir(), "ditto-bench-families-"));

try {
  const torch = spawnSync("/usr/bin/python3", [path.join(repoRoot, "examples/bench/families_torch.py"), "--out", dir,
    "--threads", String(threads), "--batch", String(batch), "--seconds", String(seconds), "--families", families], { encoding: "utf8", env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) } });
  if (torch.status !== 0) {
    console.error("PyTorch peer unavailable (apt-get install python3-torch):\n" + (torch.stderr || ""));
    process.exit(1);
  }
  const peer = JSON.parse(torch.stdout.trim().split("\n").pop());

  async function time(fn) {
    for (let i = 0; i < 2; i++) await fn();
    const times = [];
    const start = performance.now();
    while (performance.now() - start < seconds * 1000 || times.length < 3) {
      const t0 = performance.now();
      await fn();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return times[times.length >> 1];
  }

  const rows = [];
  for (const family of Object.keys(peer.results)) {
    const io = readSafetensors(path.join(dir, family, "io.safetensors")).tensors;
    const tensor = (name) => Tensor.from(io.get(name).data, io.get(name).shape);
    const model = await loadModel(path.join(dir, family), { threads, dtype });
    const conditions = {};
    for (const spec of model.info.conditions) if (io.has(spec.name)) conditions[spec.name] = tensor(spec.name);
    const x = tensor("x");
    const t = io.get("t").data;
    const out = await model.forward(x, t, conditions);
    const ref = io.get("out").data;
    const got = out.toFloat32Array();
    let maxDiff = 0, maxRef = 0;
    for (let i = 0; i < ref.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(got[i] - ref[i]));
      maxRef = Math.max(maxRef, Math.abs(ref[i]));
    }
    const ms = await time(() => model.forward(x, t, conditions));
    const r = peer.results[family];
    rows.push({ family, shape: `x [${r.x.join(", ")}], ${r.textTokens} text tokens, hidden ${r.hidden}, ` +
      model.info.blockLists.map((l) => `${l.count} ${l.name}`).join(" + "), ditto: ms, torch: r.ms, maxDiff, maxRef });
    model.dispose();
  }
  console.log(`\nOne forward, batch ${batch}, ${threads} threads, Ditto ${dtype} vs torch ${peer.torch} f32 eager (BLAS: ${(peer.blas ?? []).join(", ") || "unknown"}), median ms\n`);
  console.log("| family | shapes | Ditto | torch | torch / Ditto | max abs diff (max abs out) |");
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.family} | ${r.shape} | ${r.ditto.toFixed(1)} | ${r.torch.toFixed(1)} | ${(r.torch / r.ditto).toFixed(2)}x | ` +
      `${r.maxDiff.toExponential(2)} (${r.maxRef.toFixed(2)}) |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

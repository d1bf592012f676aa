#!/usr/bin/env node
// VAE decode: Ditto's AutoencoderKL (loadVae) against a plain-PyTorch eager decoder of the same weights
// (examples/bench/vae_torch.py, /usr/bin/python3), same latent sizes and thread count, measured in one run.
// Prints median ms per decode (batch 1) and the ratio torch / Ditto (> 1: Ditto faster). The peer first checks
// itself against the golden case's `out` when the folder has an io.safetensors.
//
//   node examples/bench-vae.mjs [--vae ../shared/golden/vae-kl] [--threads 2] [--sizes 16,32,64] [--reps 5]
import { spawnSync } from "node:child_process";
import path from "node:path";
import { createRequire } from "node:module";
import { arg, repoRoot } from "./bench/common.mjs";

const require = createRequire(import.meta.url);
const { loadVae, Tensor } = require(repoRoot);
const vaeDir = path.resolve(arg("vae", path.join(repoRoot, "../shared/golden/vae-kl")));
const threads = Number(arg("threads", "2"));
const sizes = arg("sizes", "16,32,64").split(",").map(Number);
const reps = Number(arg("reps", "5"));

const torch = spawnSync("/usr/bin/python3", [path.join(repoRoot, "examples/bench/vae_torch.py"), "--vae", vaeDir,
  "--threads", String(threads), "--sizes", sizes.join(","), "--reps", String(reps)], { encoding: "utf8" });
const peer = torch.status === 0 ? JSON.parse(torch.stdout.trim().split("\n").pop()) : null;
if (!peer) console.error("PyTorch peer unavailable (apt-get install python3-torch): its columns are skipped\n" + (torch.stderr || ""));

const vae = await loadVae(vaeDir, { threads });
const c = vae.config;
const median = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
console.log(`VAE decode, ${threads} threads, channels [${c.blockOutChannels}], latent ${c.latentChannels}, median of ${reps}` +
  (peer ? `; torch ${peer.torch} (peer vs golden out: max |diff| ${peer.check})` : ""));
console.log("| latent | image | Ditto ms | torch ms | torch / Ditto |\n|---|---|---|---|---|");
for (const s of sizes) {
  const n = c.latentChannels * s * s;
  const z = Tensor.from(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 2), [1, c.latentChannels, s, s]);
  (await vae.decode(z)).dispose(); // warm-up
  const times = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    (await vae.decode(z)).dispose();
    times.push(performance.now() - t0);
  }
  const ours = median(times);
  const theirs = peer?.results[String(s)];
  console.log(`| ${s}×${s} | ${s * c.downscale}×${s * c.downscale} | ${ours.toFixed(2)} | ${theirs?.toFixed(2) ?? "–"} | ${theirs ? (theirs / ours).toFixed(2) : "–"} |`);
  z.dispose();
}
vae.dispose();

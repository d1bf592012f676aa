#!/usr/bin/env node
// Block-cache benchmark (docs/caching.md): at the fixture's recommended settings (dit.json → sampler), one uncached
// run on Philox seeds seed-base … seed-base + N − 1, then the fewer-steps control and every policy setting on the same
// seeds in the same process (src/eval/cacheBench.ts): MACs reduction, wall-clock speed-up against that uncached run,
// FD, ACC, PSNR / SSIM against its images. Prints one JSON line per row and a Markdown table; --out writes the rows
// as JSON (docs/caching-chart.mjs draws the chart from it). teaCache / magCache read a profile from
// `ditto calibrate` on other seeds (--profile).
//
//   node dist/cli.js calibrate --fixture ../shared/fixtures/glyphs --seed-base 10000 --n 20 --out profile.json
//   node examples/bench-cache.mjs --fixture ../shared/fixtures/glyphs --n 1000 --seed-base 0 --profile profile.json
//        [--policies "auto;fora:interval=2"] [--control 25,16,10] [--threads 2] [--out rows.json]
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { arg, repoRoot } from "./bench/common.mjs";

const require = createRequire(import.meta.url);
const { benchCache } = require(repoRoot);

const fixture = path.resolve(arg("fixture", path.join(repoRoot, "../shared/fixtures/glyphs")));
const n = Number(arg("n", "1000"));
const seedBase = Number(arg("seed-base", "0"));
const profile = arg("profile", undefined);
const threads = arg("threads", undefined);
const out = arg("out", undefined);
const calibrated = profile
  ? [`teaCache:threshold=0.3,profile=${profile}`, `teaCache:threshold=0.6,profile=${profile}`, `magCache:profile=${profile}`, `magCache:threshold=0.24,maxSkipSteps=4,profile=${profile}`]
  : [];
const defaults = [
  "fora:interval=2", "fora:interval=3", "deltaDit:interval=2", "deltaDit:interval=3", "taylorSeer", "taylorSeer:interval=3",
  "firstBlock:threshold=0.05", "firstBlock:threshold=0.1", "dbCache", "dbCache:threshold=0.15", ...calibrated,
  "easyCache", "easyCache:threshold=0.1", "auto:tolerance=0.05", "auto", "auto:tolerance=0.2",
];
const policies = arg("policies", undefined)?.split(";") ?? defaults;
const controlSteps = arg("control", "25,16,10").split(",").filter(Boolean).map(Number);

const rows = await benchCache({
  fixture, n, seedBase, policies, controlSteps, ...(threads ? { threads: Number(threads) } : {}),
  onRow: (row) => process.stdout.write(`${JSON.stringify(row)}\n`),
});
if (out) writeFileSync(out, `${JSON.stringify({ n, seedBase, fixture: path.basename(fixture), rows }, null, 1)}\n`);
const f = (v, d) => (v === null || v === undefined ? "–" : v.toFixed(d));
process.stdout.write(`\n| setting | MACs ÷ | wall × | FD | ACC | PSNR (dB) | SSIM | vs control |\n|---|---|---|---|---|---|---|---|\n`);
for (const r of rows) {
  const vs = r.controlPsnr === undefined ? "" : `${r.belowControl ? "**below**" : "above"} (${r.controlPsnr.toFixed(2)})`;
  process.stdout.write(`| ${r.name.replace(/profile=[^,]*/, "profile")} | ${f(r.macsReduction, 2)} | ${f(r.speedup, 2)} | ${f(r.fd, 2)} | ${f(r.acc, 3)} | ${f(r.psnr, 2)} | ${f(r.ssim, 4)} | ${vs} |\n`);
}

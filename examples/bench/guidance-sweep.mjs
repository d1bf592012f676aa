// The guidance sweep of docs/guidance.md: guidance methods on the same seeds, in one process, through the built
// package's QualityMeter — FD, ACC, MACs, network evaluations per step (MACs ÷ one forward's), wall time, and PSNR /
// SSIM against the first method listed (the peer, e.g. the best CFG scale, measured in the same run). Each result is
// one JSON line on stdout as soon as it is measured (so a long sweep keeps what it finished); with --grid FILE the
// first image of every class of the first and the last method are saved side by side (rows: classes; left block:
// first method, right block: last method).
//   node examples/bench/guidance-sweep.mjs --fixture ../shared/fixtures/glyphs --n 1000 --steps 50 \
//     --seed-bases 0,5000 --methods "cfg:scale=4;auto;cfg:scale=5" [--per-class 4] [--grid docs/guidance-grid.png]
//     [--cache SPEC]   (every method with this cache policy, e.g. auto; the line adds cache and blocksReused)
import path from "node:path";

import { arg, repoRoot } from "./common.mjs";

const { QualityMeter, guiderFrom, Image, makeGrid } = await import(path.join(repoRoot, "dist/index.js"));

const fixture = arg("fixture", path.join(repoRoot, "../shared/fixtures/glyphs"));
const n = Number(arg("n", "1000"));
const steps = Number(arg("steps", "50"));
const seedBases = arg("seed-bases", "0").split(",").map(Number);
const methods = arg("methods", "cfg:scale=4;auto").split(";");
const gridFile = arg("grid", undefined);
const perClass = Number(arg("per-class", "4"));
const cache = arg("cache", undefined);

const meter = await QualityMeter.open(fixture);
const perForward = meter.pipeline.model.macsPerSample().total;
try {
  for (const seedBase of seedBases) {
    const runs = [];
    for (const spec of methods) {
      const guider = guiderFrom(spec);
      const m = await meter.measure(guider, { n, steps, seedBase, ...(cache ? { cache } : {}) });
      const vsFirst = runs.length ? meter.fidelity(m, runs[0].m) : null;
      runs.push({ spec, m });
      const line = {
        method: spec, guidance: guider.toJSON(), seedBase, n, steps, fd: m.fd, acc: m.acc, macs: m.macs,
        evalsPerStep: m.macs / (n * steps * perForward), forwards: m.forwards, wallMs: m.wallMs,
        ...(cache ? { cache, blocksReused: m.blocksReused } : {}),
        ...(vsFirst ? { vs: methods[0], psnr: vsFirst.psnr, ssim: vsFirst.ssim } : {}),
      };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
    if (gridFile && seedBase === seedBases[0] && runs.length >= 2) {
      const { height, width, channels } = meter.shape;
      const size = height * width * channels;
      const pick = (m) => Array.from({ length: meter.numClasses * perClass }, (_, j) => {
        const k = Math.floor(j / perClass) * (n / meter.numClasses) + (j % perClass);
        return new Image(m.images.slice(k * size, (k + 1) * size), width, height, channels);
      });
      const left = pick(runs[0].m), right = pick(runs[runs.length - 1].m);
      const tiles = [];
      for (let c = 0; c < meter.numClasses; c++) {
        tiles.push(...left.slice(c * perClass, (c + 1) * perClass), ...right.slice(c * perClass, (c + 1) * perClass));
      }
      await makeGrid(tiles, { columns: 2 * perClass }).upscale(3).save(gridFile);
    }
  }
} finally {
  await meter.dispose();
}

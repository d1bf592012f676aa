#!/usr/bin/env node
// `npm run demo`: a 10×10 grid of the vendored glyph DiT (row = class 0…9) with the model's recommended settings
// (dit.json → sampler: 50 Euler steps, CFG 4), written as a PNG; prints its path. Compare with
// examples/models/glyphs/samples.png (the reference sampler's grid at CFG 2).
//
//   node examples/demo.mjs [--out ditto-demo.png] [--seed 0] [--threads N]
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { Pipeline, makeGrid } = createRequire(import.meta.url)(root);

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const out = path.resolve(arg("out", "ditto-demo.png"));
const threads = arg("threads") ? Number(arg("threads")) : undefined;

const pipe = await Pipeline.load({ model: path.join(root, "examples/models/glyphs"), threads });
try {
  const { steps, guidanceScale } = pipe.recommended;
  const classLabels = Array.from({ length: 100 }, (_, k) => Math.floor(k / 10));
  process.stderr.write(`generating 100 images (${steps} steps, CFG ${guidanceScale}) …\n`);
  const result = await pipe.generate({
    classLabels, steps, guidanceScale, seed: Number(arg("seed", "0")),
    onStep: (e) => { if (process.stderr.isTTY) process.stderr.write(`\rstep ${e.step}/${e.total}`); },
  });
  if (process.stderr.isTTY) process.stderr.write("\n");
  await makeGrid(result.images, { columns: 10 }).upscale(4).save(out);
  const s = result.stats;
  process.stderr.write(`${(s.wallMs / 1000).toFixed(1)} s, ${(100 / (s.wallMs / 1000)).toFixed(2)} images/s, ${s.forwards} forwards, ${(s.macs / 1e12).toFixed(2)} TMACs\n`);
  console.log(out);
  result.latents.dispose();
} finally {
  await pipe.dispose();
}

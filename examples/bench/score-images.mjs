// FD / ACC of saved u8 NHWC images (guidance-explore.mjs --save-images), as they are and after a Gaussian blur of
// each channel (σ in pixels, reflected border): does the excess high-frequency energy of guided images drive FD?
// (docs/guidance.md, "Round 3"). The images must be in the protocol's label order (n a multiple of the classes).
//   node examples/bench/score-images.mjs --fixture ../shared/fixtures/glyphs --images /tmp/img/cfg_scale=4.u8 --sigmas 0,0.4,0.5,0.6,0.8
import { readFileSync } from "node:fs";
import path from "node:path";

import { arg, repoRoot } from "./common.mjs";

const { QualityMeter } = await import(path.join(repoRoot, "dist/index.js"));
const fixture = arg("fixture", path.join(repoRoot, "../shared/fixtures/glyphs"));
const images = new Uint8Array(readFileSync(arg("images")));
const sigmas = arg("sigmas", "0,0.5").split(",").map(Number);

function blur(src, sigma, [H, W, C]) {
  const r = Math.ceil(3 * sigma), k = [];
  for (let i = -r; i <= r; i++) k.push(Math.exp((-i * i) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0), K = k.map((v) => v / sum);
  const reflect = (i, len) => (i < 0 ? -i : i >= len ? 2 * len - 2 - i : i);
  const out = new Uint8Array(src.length), t = new Float64Array(H * W * C);
  for (let o = 0; o < src.length; o += H * W * C) {
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) {
      let a = 0;
      for (let i = -r; i <= r; i++) a += K[i + r] * src[o + (y * W + reflect(x + i, W)) * C + c];
      t[(y * W + x) * C + c] = a;
    }
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) {
      let a = 0;
      for (let i = -r; i <= r; i++) a += K[i + r] * t[(reflect(y + i, H) * W + x) * C + c];
      out[o + (y * W + x) * C + c] = Math.max(0, Math.min(255, Math.round(a)));
    }
  }
  return out;
}

const meter = await QualityMeter.open(fixture);
try {
  const { height, width, channels } = meter.shape;
  const n = images.length / (height * width * channels);
  for (const sigma of sigmas) {
    const m = await meter.score(sigma > 0 ? blur(images, sigma, [height, width, channels]) : images, n);
    process.stdout.write(`${JSON.stringify({ sigma, n, fd: m.fd, acc: m.acc, meanTerm: m.fdParts.meanTerm, traceG: m.fdParts.traceG })}\n`);
  }
} finally {
  await meter.dispose();
}

// Exploring guidance ideas before they become methods (docs/guidance.md, "Round 3"): measures SPEC methods and two
// experimental ones on the same seeds through the built package's QualityMeter, and prints FD with its terms (mean
// shift ‖μ_g − μ_r‖², spreads tr Σ_g / tr Σ_r, covariance term) and per-class ACC — where FD comes from, not only how
// much. One JSON line per method; the first listed is the peer the others' PSNR is against.
//   node examples/bench/guidance-explore.mjs --fixture ../shared/fixtures/glyphs --n 500 --steps 50 --seed-base 10000 \
//     --methods "cfg:scale=4;fdg:high=6,low=3;weakModel:dir=/tmp/weak/lr60,scale=1.5,cfgScale=4"
// Experimental methods:
//   fdg:high=a,low=b   frequency-decoupled guidance (Sadat et al. 2025, arXiv 2506.19713; diffusers
//                      FrequencyDecoupledGuidance with two levels): D_u + a·(Δ − LP Δ) + b·LP Δ, Δ = D_c − D_u,
//                      LP = kornia's pyrup(pyrdown(·)) (5×5 binomial blur, reflect border; bilinear ×½ / ×2)
//   weakModel:dir=D,scale=w,cfgScale=g   autoguidance with a weak checkpoint folder D (e.g. from
//                      examples/bench/weak_variants.py)
//   weakAsUncond:dir=D,scale=g   CFG whose unconditional branch runs on the weak checkpoint D: D_wu + g(D_c − D_wu)
//                      (not autoguidance's weakUncond=1, which autoguides the strong unconditional branch)
//                      (EDM2's smaller unconditional model; Karras et al. 2024 §5: part of its gain is autoguidance)
//   agExp:dir=D,scale=w,cfgScale=g[,lo=a,hi=b][,both=1]   CFG g + (w − 1)(D_c − D_w) for σ ∈ (a, b] only (plain CFG
//                      outside); both=1: the weak term on both sides, CFG of (D_c + (w−1)(D_c − D_wc)) and
//                      (D_u + (w−1)(D_u − D_wu)) (4 evaluations)
// --save-images DIR writes each method's u8 NHWC images to DIR/<method>.u8 (for examples/bench/image-stats.py and
// examples/bench/score-images.mjs).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import { arg, repoRoot } from "./common.mjs";

const { QualityMeter, guiderFrom, COMPUTE_ALL, Autoguidance, loadModel } = await import(path.join(repoRoot, "dist/index.js"));

const fixture = arg("fixture", path.join(repoRoot, "../shared/fixtures/glyphs"));
const n = Number(arg("n", "500")), steps = Number(arg("steps", "50")), seedBase = Number(arg("seed-base", "10000"));
const threads = arg("threads", undefined);
const methods = arg("methods", "cfg:scale=4").split(";");
const saveDir = arg("save-images", undefined);

const COND = { name: "cond", condition: "class", plan: COMPUTE_ALL };
const UNCOND = { name: "uncond", condition: "null", plan: COMPUTE_ALL };
const params = (text) => Object.fromEntries((text ?? "").split(",").filter(Boolean).map((kv) => kv.split("=")));

// kornia's pyramid steps on one [C, H, W] plane set (float64): 5×5 binomial blur with a reflected border, then a
// bilinear resize (align_corners false: ×½ averages 2×2 blocks; ×2 interpolates, clamped at the edges).
const K5 = [1, 4, 6, 4, 1].map((v) => v / 16);
const reflect = (i, len) => (i < 0 ? -i : i >= len ? 2 * len - 2 - i : i);
function blur(a, C, H, W) {
  const t = new Float64Array(a.length), o = new Float64Array(a.length);
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    let s = 0;
    for (let k = -2; k <= 2; k++) s += K5[k + 2] * a[c * H * W + y * W + reflect(x + k, W)];
    t[c * H * W + y * W + x] = s;
  }
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    let s = 0;
    for (let k = -2; k <= 2; k++) s += K5[k + 2] * t[c * H * W + reflect(y + k, H) * W + x];
    o[c * H * W + y * W + x] = s;
  }
  return o;
}
function pyrDown(a, C, H, W) {
  const b = blur(a, C, H, W), h = H >> 1, w = W >> 1, o = new Float64Array(C * h * w);
  for (let c = 0; c < C; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const p = c * H * W + 2 * y * W + 2 * x;
    o[c * h * w + y * w + x] = (b[p] + b[p + 1] + b[p + W] + b[p + W + 1]) / 4;
  }
  return o;
}
function pyrUp(a, C, h, w) {
  const H = 2 * h, W = 2 * w, o = new Float64Array(C * H * W);
  const src = (j, len) => { const s = Math.max(0, (j + 0.5) / 2 - 0.5), i0 = Math.floor(s); return [i0, Math.min(i0 + 1, len - 1), s - i0]; };
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) {
    const [y0, y1, fy] = src(y, h);
    for (let x = 0; x < W; x++) {
      const [x0, x1, fx] = src(x, w), p = c * h * w;
      o[c * H * W + y * W + x] = (1 - fy) * ((1 - fx) * a[p + y0 * w + x0] + fx * a[p + y0 * w + x1]) + fy * ((1 - fx) * a[p + y1 * w + x0] + fx * a[p + y1 * w + x1]);
    }
  }
  return blur(o, C, H, W);
}

function frequencyDecoupled({ high, low }, [C, H, W]) {
  const hi = Number(high), lo = Number(low);
  const combine = ([vc, vu], { x, batch }) => {
    const size = x.length / batch, out = new Float32Array(x.length);
    for (let b = 0; b < batch; b++) {
      const d = new Float64Array(size);
      for (let i = 0; i < size; i++) d[i] = vc[b * size + i] - vu[b * size + i];
      const lp = pyrUp(pyrDown(d, C, H, W), C, H / 2, W / 2);
      for (let i = 0; i < size; i++) out[b * size + i] = vu[b * size + i] + hi * (d[i] - lp[i]) + lo * lp[i];
    }
    return out;
  };
  return { kind: "fdg", branches: () => [COND, UNCOND], combination: () => ({ nonlinear: true, combine }), toJSON: () => ({ kind: "fdg", high: hi, low: lo }) };
}

const meter = await QualityMeter.open(fixture, threads ? { threads: Number(threads) } : {});
const weakModels = [];
let first;
try {
  for (const spec of methods) {
    const [name, rest] = spec.split(/:(.*)/s);
    const p = params(rest);
    let guider;
    if (name === "fdg") guider = frequencyDecoupled(p, [meter.shape.channels, meter.shape.height, meter.shape.width]);
    else if (name === "weakModel") {
      const weakModel = await loadModel(p.dir, threads ? { threads: Number(threads) } : {});
      weakModels.push(weakModel);
      guider = new Autoguidance({ weakModel, scale: Number(p.scale), cfgScale: Number(p.cfgScale ?? 1) });
    } else if (name === "weakAsUncond") {
      const weakModel = await loadModel(p.dir, threads ? { threads: Number(threads) } : {});
      weakModels.push(weakModel);
      const weakU = { name: "weakAsUncond:model", condition: "null", plan: COMPUTE_ALL, model: weakModel };
      const g = Number(p.scale);
      const combine = ([vc, vwu]) => Float32Array.from(vc, (c, i) => vwu[i] + g * (c - vwu[i]));
      guider = { kind: "weakAsUncond", branches: () => [COND, weakU], combination: () => ({ nonlinear: true, combine }), toJSON: () => ({ kind: "weakAsUncond", scale: g }) };
    } else if (name === "agExp") {
      const weakModel = await loadModel(p.dir, threads ? { threads: Number(threads) } : {});
      weakModels.push(weakModel);
      const weakC = { name: "weak:model", condition: "class", plan: COMPUTE_ALL, model: weakModel };
      const weakU = { name: "weakUncond:model", condition: "null", plan: COMPUTE_ALL, model: weakModel };
      const w = Number(p.scale), g = Number(p.cfgScale ?? 4), lo = Number(p.lo ?? 0), hi = Number(p.hi ?? 1), both = p.both === "1";
      const inside = (step) => step.sigma > lo && step.sigma <= hi;
      const combine = (o, { step }) => {
        const [vc, vu] = o;
        if (!inside(step)) return Float32Array.from(vc, (c, i) => vu[i] + g * (c - vu[i]));
        const wc = o[2], wu = both ? o[3] : undefined, s = w - 1;
        return Float32Array.from(vc, (c, i) => {
          const gc = c + s * (c - wc[i]), gu = wu ? vu[i] + s * (vu[i] - wu[i]) : vu[i];
          return wu ? gu + g * (gc - gu) : vu[i] + g * (c - vu[i]) + s * (c - wc[i]);
        });
      };
      guider = { kind: "agExp", branches: (step) => inside(step) ? (both ? [COND, UNCOND, weakC, weakU] : [COND, UNCOND, weakC]) : [COND, UNCOND],
        combination: () => ({ nonlinear: true, combine }), toJSON: () => ({ kind: "agExp", ...p }) };
    } else guider = guiderFrom(spec);
    const m = await meter.measure(guider, { n, steps, seedBase });
    if (saveDir) {
      mkdirSync(saveDir, { recursive: true });
      writeFileSync(path.join(saveDir, `${spec.replace(/[^a-zA-Z0-9=.,_-]/g, "_")}.u8`), m.images);
    }
    const vs = first ? meter.fidelity(m, first) : undefined;
    first ??= m;
    const t = m.fdParts;
    process.stdout.write(`${JSON.stringify({
      method: spec, n, steps, seedBase, fd: m.fd, acc: m.acc, meanTerm: t.meanTerm, traceG: t.traceG, traceR: t.traceR,
      covarianceTerm: t.traceG + t.traceR - 2 * t.traceRoot, accPerClass: m.accPerClass, macs: m.macs, wallMs: m.wallMs,
      ...(vs ? { psnr: vs.psnr, ssim: vs.ssim } : {}),
    })}\n`);
  }
} finally {
  for (const w of weakModels) w.dispose();
  await meter.dispose();
}

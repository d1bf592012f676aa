// Every guidance method's combination on synthetic outputs against its paper formula written out here (docs/guidance.md):
// linear methods through their branch weights (Σ w_b·out_b on random odd-sized vectors), APG and CFG-Zero* through
// their non-linear combine against naive float64 references; which blocks each perturbation touches at several
// depths; the guidance interval and SLG's step window (one branch outside); SPECs and toJSON / Guidance.fromJSON
// round trips; unknown keys and bad values refused with the house messages.
import { describe, expect, it } from "vitest";

import {
  AdaptiveProjectedGuidance, Autoguidance, CfgZeroStar, ClassifierFreeGuidance, Guidance, GuidanceInterval, isNonlinear,
  PerturbedAttentionGuidance, ScheduledGuidance, SkipLayerGuidance, StrongWeakGuidance, type GuidanceStep, type Guider,
} from "../../src/guidance/index.js";
import { guiderFrom } from "../../src/guidance/policy.js";
import { formatSpec } from "../../src/policySpec.js";

function rand(seed: number, n: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 4 - 2);
}

const step = (index: number, total = 10, depth = 6): GuidanceStep => ({ index, total, sigma: 1 - index / total, t: 1000 * (1 - index / total), depth });

/** Σ_b w_b·out_b in float64 for the branches a Guider declares; outputs looked up by branch name. */
function evalLinear(g: Guider, st: GuidanceStep, byName: (name: string) => Float32Array): Float64Array {
  const branches = g.branches(st), c = g.combination(st);
  if (isNonlinear(c)) throw new Error("linear expected");
  const n = byName("cond").length;
  const out = new Float64Array(n);
  branches.forEach((b, k) => { const v = byName(b.name); for (let i = 0; i < n; i++) out[i] += c.weights[k]! * v[i]!; });
  expect(c.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  return out;
}

const N = 37;
const D = { cond: rand(1, N), uncond: rand(2, N), weak: rand(3, N), strong: rand(4, N) };
const pick = (name: string): Float32Array => (name === "cond" ? D.cond : name === "uncond" ? D.uncond : name.startsWith("strong") ? D.strong : D.weak);
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-9) => { for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(tol); };
const formula = (f: (c: number, u: number, w: number, s: number) => number) => Float64Array.from({ length: N }, (_, i) => f(D.cond[i]!, D.uncond[i]!, D.weak[i]!, D.strong[i]!));

describe("linear guidance methods follow their formulas", () => {
  it("CFG: D_u + g(D_c − D_u)", () => {
    close(evalLinear(new ClassifierFreeGuidance({ scale: 4.5 }), step(0), pick), formula((c, u) => u + 4.5 * (c - u)));
  });

  it("autoguidance (Karras et al.): D_w + w(D_c − D_w), the weak branch with the class condition", () => {
    const ag = new Autoguidance({ weak: { kind: "scale", alpha: 0.7, from: 0.5, to: 1 }, scale: 2.3 });
    close(evalLinear(ag, step(3), pick), formula((c, _u, w) => w + 2.3 * (c - w)));
    const names = ag.branches(step(3)).map((b) => [b.name, b.condition]);
    expect(names).toEqual([["cond", "class"], ["weak:scale0.7@0.5-1", "class"]]);
  });

  it("autoguidance on top of CFG: D_u + g(D_c − D_u) + (w − 1)(D_c − D_w)", () => {
    const ag = new Autoguidance({ weak: { kind: "skip", layers: [4] }, scale: 1.6, cfgScale: 3.5 });
    close(evalLinear(ag, step(3), pick), formula((c, u, w) => u + 3.5 * (c - u) + 0.6 * (c - w)));
    expect(ag.combination(step(3))).toMatchObject({ anchor: 1 });
  });

  it("SLG: CFG + s(D_c − D_skip) inside start < i/n < stop, plain CFG outside", () => {
    const slg = SkipLayerGuidance.slg({ layers: [2, 3], scale: 2, cfgScale: 4, start: 0.1, stop: 0.8 });
    close(evalLinear(slg, step(5), pick), formula((c, u, w) => u + 4 * (c - u) + 2 * (c - w)));
    for (const i of [0, 1, 8, 9]) {
      expect(slg.branches(step(i)).map((b) => b.name)).toEqual(["cond", "uncond"]);
      close(evalLinear(slg, step(i), pick), formula((c, u) => u + 4 * (c - u)));
    }
    expect(slg.branches(step(2)).map((b) => b.name)).toEqual(["cond", "uncond", "skip:skip@2+3"]);
  });

  it("PAG / STG-A: CFG + s(D_c − D_pag); PAG's own form at g = 1", () => {
    close(evalLinear(new PerturbedAttentionGuidance({ layers: [1], scale: 3, cfgScale: 2 }), step(0), pick), formula((c, u, w) => u + 2 * (c - u) + 3 * (c - w)));
    close(evalLinear(new PerturbedAttentionGuidance({ layers: [1], scale: 3, cfgScale: 1 }), step(0), pick), formula((c, _u, w) => c + 3 * (c - w)));
  });

  it("strong/weak: D_weak + w(D_strong − D_weak), and on top of CFG", () => {
    const strong = { kind: "scale" as const, alpha: 1.2, from: 0, to: 0.5 }, weak = { kind: "scale" as const, alpha: 0.8, from: 0.5, to: 1 };
    close(evalLinear(new StrongWeakGuidance({ strong, weak, scale: 1.7 }), step(0), pick), formula((_c, _u, w, s) => w + 1.7 * (s - w)));
    close(evalLinear(new StrongWeakGuidance({ strong, weak, scale: 1.7, cfgScale: 4 }), step(0), pick), formula((c, u, w, s) => u + 4 * (c - u) + 0.7 * (s - w)));
  });

  it("scheduled CFG (Wang et al. 2024): D_u + g(σ)(D_c − D_u), g rising with 1 − σ (linear, cosine, clamped)", () => {
    const lin = new ScheduledGuidance({ scale: 7 }), cos = new ScheduledGuidance({ scale: 7, shape: "cosine" });
    const clamp = new ScheduledGuidance({ scale: 7, floor: 2.5 });
    for (const sigma of [1, 0.83, 0.5, 0.21, 0.02, 0]) {
      const st: GuidanceStep = { index: 3, total: 10, sigma, t: 1000 * sigma, depth: 6 };
      const gl = 1 + 6 * (1 - sigma), gc = 1 + 6 * (1 - Math.cos(Math.PI * (1 - sigma))) / 2;
      close(evalLinear(lin, st, pick), formula((c, u) => u + gl * (c - u)));
      close(evalLinear(cos, st, pick), formula((c, u) => u + gc * (c - u)));
      close(evalLinear(clamp, st, pick), formula((c, u) => u + Math.max(2.5, gl) * (c - u)));
      // Both CFG branches at every step, also where g(σ) = 1 (a cache policy needs a fixed branch count).
      expect(lin.branches(st).map((b) => [b.name, b.condition])).toEqual([["cond", "class"], ["uncond", "null"]]);
      expect(lin.combination(st)).toMatchObject({ anchor: 1 });
    }
    expect(lin.scaleAt(1)).toBe(1);
    expect(lin.scaleAt(0)).toBe(7);
    expect(cos.scaleAt(0.5)).toBeCloseTo(4, 12);
  });

  it("the guidance interval runs the inner method for σ in (lo, hi] and the conditional branch alone outside", () => {
    const g = GuidanceInterval.limit(new ClassifierFreeGuidance({ scale: 5 }), { sigmaLo: 0.2, sigmaHi: 0.7 });
    expect(g.branches(step(3)).map((b) => b.name)).toEqual(["cond", "uncond"]); // σ = 0.7
    expect(g.branches(step(2)).map((b) => b.name)).toEqual(["cond"]); // σ = 0.8
    expect(g.branches(step(8)).map((b) => b.name)).toEqual(["cond"]); // σ = 0.2
    close(evalLinear(g, step(2), pick), D.cond);
    // Scheduler σ are float32: fround(0.2) > 0.2 and fround(0.7) > 0.7 still sit on the bounds.
    expect(g.branches({ ...step(8), sigma: Math.fround(0.2) }).length).toBe(1);
    expect(g.branches({ ...step(3), sigma: Math.fround(0.7) }).length).toBe(2);
  });
});

describe("block perturbations touch exactly the named blocks", () => {
  it("fractions of depth select blocks by their centre, at any depth", () => {
    const ag = (from: number, to: number) => new Autoguidance({ weak: { kind: "scale", alpha: 0.9, from, to }, scale: 2 });
    const blocks = (g: Guider, depth: number) => Object.keys(g.branches(step(0, 10, depth))[1]!.plan.blocks).map(Number);
    expect(blocks(ag(0.5, 1), 6)).toEqual([3, 4, 5]);
    expect(blocks(ag(0.5, 1), 28)).toEqual(Array.from({ length: 14 }, (_, i) => 14 + i));
    expect(blocks(ag(0, 1), 5)).toEqual([0, 1, 2, 3, 4]);
    expect(blocks(ag(0.4, 0.6), 10)).toEqual([4, 5]);
    expect(ag(0.5, 1).branches(step(0, 10, 6))[1]!.plan.blocks[3]).toEqual({ kind: "scale", alpha: 0.9 });
    // Only the weak branch is perturbed; cond / uncond compute every block.
    const withCfg = new Autoguidance({ weak: { kind: "perturbAttention", layers: [2] }, scale: 2, cfgScale: 3 });
    const [c, u, w] = withCfg.branches(step(0));
    expect([c!.plan.blocks, u!.plan.blocks, w!.plan.blocks]).toEqual([{}, {}, { 2: { kind: "perturbAttention" } }]);
  });

  it("refuses a layer beyond the depth and an empty range instead of ignoring them", () => {
    expect(() => SkipLayerGuidance.stg({ layers: [6] }).branches(step(0))).toThrow(new RangeError("Expected block index between 0 and 5 for guidance layer but received 6"));
    expect(() => new Autoguidance({ weak: { kind: "skip", from: 0.5, to: 0.55 }, scale: 2 }).branches(step(0))).toThrow(new RangeError("Expected a block range holding at least one of the 6 blocks for guidance block range but received \"[0.5, 0.55)\""));
    expect(() => new Autoguidance({ weak: { kind: "skip", from: 0.6, to: 0.5 }, scale: 2 })).toThrow(new RangeError("Expected number greater than from (0.6) for autoguidance.weak[0].to but received 0.5"));
  });
});

describe("non-linear methods", () => {
  const B = 3, n = 29;
  const x = rand(10, B * n), vc = rand(11, B * n), vu = rand(12, B * n);

  it("CFG-Zero*: s* = <v_c, v_u>/|v_u|² per sample, v = s*·v_u + w(v_c − s*·v_u); zero velocity and no branch on zeroed steps", () => {
    const g = new CfgZeroStar({ cfgScale: 4, zeroInitSteps: 2 });
    expect(g.branches(step(1))).toEqual([]);
    const c0 = g.combination(step(1));
    expect(isNonlinear(c0) && c0.combine([], { x, batch: B, step: step(1), memory: {} })).toEqual(new Float32Array(B * n));
    const c = g.combination(step(2));
    if (!isNonlinear(c)) throw new Error("non-linear expected");
    const out = c.combine([vc, vu], { x, batch: B, step: step(2), memory: {} });
    const ref = new Float64Array(B * n);
    for (let b = 0; b < B; b++) {
      let dot = 0, uu = 0;
      for (let i = 0; i < n; i++) { dot += vc[b * n + i]! * vu[b * n + i]!; uu += vu[b * n + i]! ** 2; }
      for (let i = 0; i < n; i++) { const s = dot / uu, base = s * vu[b * n + i]!; ref[b * n + i] = base + 4 * (vc[b * n + i]! - base); }
    }
    close(out, ref, 1e-5);
  });

  it("APG (paper form on x0): momentum, norm clip, projection, two steps", () => {
    const eta = 0.25, beta = -0.5, r = 3, w = 5;
    const g = new AdaptiveProjectedGuidance({ cfgScale: w, eta, momentum: beta, normThreshold: r });
    const memory = {};
    let running: Float64Array | undefined;
    for (const idx of [2, 3]) {
      const st = step(idx), sigma = st.sigma;
      const vc2 = rand(20 + idx, B * n), vu2 = rand(30 + idx, B * n);
      const c = g.combination(st);
      if (!isNonlinear(c)) throw new Error("non-linear expected");
      const out = c.combine([vc2, vu2], { x, batch: B, step: st, memory });
      const ref = new Float64Array(B * n);
      const nextRunning = new Float64Array(B * n);
      for (let b = 0; b < B; b++) {
        const o = b * n;
        const x0c = Array.from({ length: n }, (_, i) => x[o + i]! - sigma * vc2[o + i]!);
        const x0u = Array.from({ length: n }, (_, i) => x[o + i]! - sigma * vu2[o + i]!);
        let d = x0c.map((v, i) => v - x0u[i]! + (running ? beta * running[o + i]! : 0));
        d.forEach((v, i) => { nextRunning[o + i] = v; });
        const norm = Math.hypot(...d);
        d = d.map((v) => v * Math.min(1, r / norm));
        const proj = d.reduce((a, v, i) => a + v * x0c[i]!, 0) / x0c.reduce((a, v) => a + v * v, 0);
        for (let i = 0; i < n; i++) {
          const par = proj * x0c[i]!, orth = d[i]! - par;
          ref[o + i] = (x[o + i]! - (x0c[i]! + (w - 1) * (orth + eta * par))) / sigma;
        }
      }
      running = nextRunning;
      close(out, ref, 1e-4);
    }
  });
});

describe("weak-term refresh", () => {
  it("runs the weak branch every k-th step and reuses D_c − D_w in between", () => {
    const ag = new Autoguidance({ weak: { kind: "skip", layers: [5] }, scale: 2.5, cfgScale: 3, refreshEvery: 2 });
    expect(ag.branches(step(0)).map((b) => b.name)).toEqual(["cond", "uncond", "weak:skip@5"]);
    expect(ag.branches(step(1)).map((b) => b.name)).toEqual(["cond", "uncond"]);
    const memory = {};
    const c0 = ag.combination(step(0)), c1 = ag.combination(step(1));
    if (!isNonlinear(c0) || !isNonlinear(c1)) throw new Error("non-linear expected");
    const ctx = (i: number) => ({ x: D.cond, batch: 1, step: step(i), memory });
    close(c0.combine([D.cond, D.uncond, D.weak], ctx(0)), formula((c, u, w) => u + 3 * (c - u) + 1.5 * (c - w)), 1e-5);
    // Step 1: new cond / uncond (here: strong / weak stand-ins), the term kept from step 0.
    close(c1.combine([D.strong, D.weak], ctx(1)), formula((c, u, w, s) => w + 3 * (s - w) + 1.5 * (c - w)), 1e-5);
    expect(guiderFrom(formatSpec(ag.toJSON())).toJSON()).toEqual(ag.toJSON());
  });
});

describe("autoguidance of both predictions, and the weak term's σ window", () => {
  const WU = rand(5, N);
  const byName = (name: string): Float32Array => (name.endsWith(":null") ? WU : pick(name));
  const g = 3.5, w = 1.25, s = w - 1;
  const both = Float64Array.from({ length: N }, (_, i) => {
    const c = D.cond[i]!, u = D.uncond[i]!, wc = D.weak[i]!, wu = WU[i]!;
    // CFG between the autoguided predictions D_c' = D_c + s(D_c − D_wc) and D_u' = D_u + s(D_u − D_wu).
    const cp = c + s * (c - wc), up = u + s * (u - wu);
    return up + g * (cp - up);
  });

  it("weakUncond: CFG of D_c + (w − 1)(D_c − D_wc) and D_u + (w − 1)(D_u − D_wu); the weak model gets the null label for D_wu", () => {
    const ag = new Autoguidance({ weakRank: 0.6, scale: w, cfgScale: g, weakUncond: true });
    const branches = ag.branches(step(0));
    expect(branches.map((b) => [b.name, b.condition])).toEqual([["cond", "class"], ["uncond", "null"], ["weak:lowRank=0.6", "class"], ["weak:lowRank=0.6:null", "null"]]);
    expect(branches[3]!.derive).toEqual({ kind: "lowRank", rankFraction: 0.6 });
    close(evalLinear(ag, step(0), byName), both, 1e-9);
    const perturbed = new Autoguidance({ weak: { kind: "skip", layers: [5] }, scale: w, cfgScale: g, weakUncond: true });
    expect(perturbed.branches(step(0)).map((b) => [b.name, b.condition])).toEqual([["cond", "class"], ["uncond", "null"], ["weak:skip@5", "class"], ["weak:null:skip@5", "null"]]);
    close(evalLinear(perturbed, step(0), (name) => (name.startsWith("weak:null") ? WU : pick(name))), both, 1e-9);
  });

  it("weakSigmaLo: the weak branches only while σ > weakSigmaLo, plain CFG below", () => {
    const ag = new Autoguidance({ weakRank: 0.6, scale: w, cfgScale: g, weakUncond: true, weakSigmaLo: 0.5 });
    // step(i) has σ = 1 − i/10: steps 0…4 are above 0.5, step 5 (σ = 0.5) and later are not.
    for (const i of [0, 4]) expect(ag.branches(step(i))).toHaveLength(4);
    for (const i of [5, 9]) {
      expect(ag.branches(step(i)).map((b) => b.name)).toEqual(["cond", "uncond"]);
      close(evalLinear(ag, step(i), byName), formula((c, u) => u + g * (c - u)), 1e-9);
    }
    // w = 1: no weak term, so no weak branch at any step (refreshed or not).
    const none = new Autoguidance({ weakRank: 0.6, scale: 1, cfgScale: g, weakUncond: true, refreshEvery: 2 });
    for (const i of [0, 1]) expect(none.branches(step(i)).map((b) => b.name)).toEqual(["cond", "uncond"]);
    close(evalLinear(none, step(1), byName), formula((c, u) => u + g * (c - u)), 1e-9);
    const plain = new Autoguidance({ weakRank: 0.6, scale: 2, weakSigmaLo: 0.5 });
    expect(plain.branches(step(7)).map((b) => b.name)).toEqual(["cond"]);
    close(evalLinear(plain, step(7), byName), D.cond, 1e-12);
  });

  it("refresh with weakUncond keeps the whole weak term; a window opening between refreshes adds none until the next", () => {
    const ag = new Autoguidance({ weakRank: 0.6, scale: w, cfgScale: g, weakUncond: true, refreshEvery: 2 });
    expect(ag.branches(step(1)).map((b) => b.name)).toEqual(["cond", "uncond"]);
    const memory = {};
    const ctx = (i: number) => ({ x: D.cond, batch: 1, step: step(i), memory });
    const c0 = ag.combination(step(0)), c1 = ag.combination(step(1));
    if (!isNonlinear(c0) || !isNonlinear(c1)) throw new Error("non-linear expected");
    close(c0.combine([D.cond, D.uncond, D.weak, WU], ctx(0)), both, 1e-5);
    // Step 1: new cond / uncond (strong / weak stand-ins); the term g(D_c − D_wc) − (g − 1)(D_u − D_wu) kept from step 0.
    const term = Float64Array.from({ length: N }, (_, i) => g * (D.cond[i]! - D.weak[i]!) - (g - 1) * (D.uncond[i]! - WU[i]!));
    close(c1.combine([D.strong, D.weak], ctx(1)), formula((c, u, wk, st) => wk + g * (st - wk)).map((v, i) => v + s * term[i]!), 1e-5);
    // An outer interval that starts at step 3 (not a refresh step): no term yet, plain CFG, no throw.
    const late = GuidanceInterval.limit(ag, { sigmaHi: 0.75 });
    const c3 = late.combination(step(3));
    if (!isNonlinear(c3)) throw new Error("non-linear expected");
    close(c3.combine([D.cond, D.uncond], { x: D.cond, batch: 1, step: step(3), memory: {} }), formula((c, u) => u + g * (c - u)), 1e-5);
  });

  it("SPEC keys weakSigmaLo and weakUncond round-trip; weakUncond needs a CFG term", () => {
    const ag = guiderFrom("autoguidance:weakRank=0.6,scale=1.25,cfgScale=4,weakUncond=1,weakSigmaLo=0.5,refreshEvery=2");
    expect(ag.toJSON()).toEqual({ kind: "autoguidance", weakRank: 0.6, scale: 1.25, cfgScale: 4, refreshEvery: 2, weakSigmaLo: 0.5, weakUncond: 1 });
    expect(guiderFrom(formatSpec(ag.toJSON())).toJSON()).toEqual(ag.toJSON());
    expect(ag.withCfgScale!(5).toJSON()).toMatchObject({ cfgScale: 5, weakSigmaLo: 0.5, weakUncond: 1 });
    expect(() => guiderFrom("autoguidance:weakRank=0.6,scale=2,weakUncond=1"))
      .toThrow(new RangeError("Expected a cfgScale other than 1 with autoguidance.weakUncond (without a CFG term there is no unconditional prediction to autoguide)"));
    expect(() => guiderFrom("autoguidance:weakRank=0.6,scale=2,cfgScale=4,weakUncond=2")).toThrow(new RangeError("Expected 0 or 1 for guidance policy autoguidance.weakUncond but received 2"));
    expect(() => guiderFrom("autoguidance:weakRank=0.6,scale=2,weakSigmaLo=1")).toThrow(new RangeError("Expected number in [0, 1) for autoguidance.weakSigmaLo but received 1"));
  });
});

describe("SPECs, toJSON and Guidance.fromJSON", () => {
  it("round-trip every method", () => {
    const guiders: Guider[] = [
      new ClassifierFreeGuidance({ scale: 3 }),
      new Autoguidance({ weak: { kind: "scale", alpha: 0.8, from: 0, to: 1 }, scale: 2, cfgScale: 4 }),
      new Autoguidance({ weak: { kind: "perturbAttention", layers: [2, 3] }, scale: 1.5 }),
      Autoguidance.skipLayers({ layers: [4], scale: 2 }),
      SkipLayerGuidance.slg({ layers: [4], scale: 2, start: 0.1, stop: 0.8 }),
      SkipLayerGuidance.stg({ layers: [2] }),
      new PerturbedAttentionGuidance({ layers: [1, 2], scale: 2 }),
      new AdaptiveProjectedGuidance({ cfgScale: 6 }),
      new CfgZeroStar({ cfgScale: 4, zeroInitSteps: 2 }),
      GuidanceInterval.limit(new ClassifierFreeGuidance({ scale: 5 }), { sigmaLo: 0.1, sigmaHi: 0.8 }),
      GuidanceInterval.limit(new Autoguidance({ weak: { kind: "skip", from: 0.5, to: 1 }, scale: 2 }), { sigmaHi: 0.9 }),
      new StrongWeakGuidance({ strong: { kind: "scale", alpha: 1.1, from: 0, to: 0.5 }, weak: { kind: "skip", layers: [5] }, scale: 2, cfgScale: 3 }),
      new ScheduledGuidance({ scale: 7 }),
      new ScheduledGuidance({ scale: 6.5, shape: "cosine", floor: 2 }),
      GuidanceInterval.limit(new ScheduledGuidance({ scale: 8 }), { sigmaHi: 0.9 }),
      Autoguidance.recommended(),
      new Autoguidance({ weakRank: 0.5, scale: 2, cfgScale: 3, refreshEvery: 2 }),
    ];
    for (const g of guiders) {
      const json = g.toJSON();
      expect(Guidance.fromJSON(json).toJSON()).toEqual(json);
      expect(guiderFrom(formatSpec(json)).toJSON()).toEqual(json);
      expect(Guidance.fromJSON(JSON.parse(JSON.stringify(json))).branches(step(4)).map((b) => b.name)).toEqual(g.branches(step(4)).map((b) => b.name));
    }
    expect(Object.isFrozen(guiders[1])).toBe(true);
  });

  it("parses the documented SPECs; auto is the recommended method; --cfg replaces the CFG term's scale", () => {
    expect(guiderFrom("slg:layers=4,scale=2,start=0.1,stop=0.8").toJSON()).toEqual({ kind: "slg", layers: [4], scale: 2, cfgScale: 4, start: 0.1, stop: 0.8 });
    expect(guiderFrom("interval:scale=5,sigmaLo=0.1,sigmaHi=0.8").toJSON()).toEqual({ kind: "interval", scale: 5, sigmaLo: 0.1, sigmaHi: 0.8 });
    expect(guiderFrom("autoguidance:alpha=0.9,from=0.5,to=1,scale=2").toJSON()).toEqual({ kind: "autoguidance", alpha: 0.9, from: 0.5, to: 1, scale: 2, cfgScale: 1 });
    expect(guiderFrom("strongWeak:strongAlpha=1.2,strongTo=0.5,weakAlpha=0,weakFrom=0.5,scale=2").toJSON())
      .toEqual({ kind: "strongWeak", strongAlpha: 1.2, strongFrom: 0, strongTo: 0.5, weakAlpha: 0, weakFrom: 0.5, weakTo: 1, scale: 2, cfgScale: 1 });
    expect(guiderFrom("auto").toJSON()).toEqual(Autoguidance.recommended().toJSON());
    expect(guiderFrom("auto:cfgScale=3").cfgScale).toBe(3);
    // Without its own scale, auto takes the caller's (the generation's guidanceScale: the model's recommended one).
    expect(guiderFrom("auto", { cfgScale: 5 }).toJSON()).toEqual({ kind: "autoguidance", weakRank: 0.6, scale: 1.25, cfgScale: 5, refreshEvery: 2, weakSigmaLo: 0.5, weakUncond: 1 });
    expect(guiderFrom("auto:cfgScale=3", { cfgScale: 5 }).cfgScale).toBe(3);
    expect(guiderFrom("apg:cfgScale=5").withCfgScale!(2).toJSON()).toMatchObject({ kind: "apg", cfgScale: 2 });
    expect(guiderFrom("schedule:scale=7").toJSON()).toEqual({ kind: "schedule", scale: 7, shape: "linear", floor: 1 });
    expect(guiderFrom("schedule:scale=7,shape=cosine,floor=2").withCfgScale!(5).toJSON()).toEqual({ kind: "schedule", scale: 5, shape: "cosine", floor: 2 });
  });

  it("refuses unknown keys and bad values", () => {
    expect(() => guiderFrom("slg:layers=4,sacle=2")).toThrow(/^Unknown parameter "sacle" for guidance policy slg: expected one of layers, scale, /);
    expect(() => guiderFrom("autoguidance:alpha=0.9")).toThrow(new TypeError("Expected finite number for guidance policy autoguidance.scale but received undefined"));
    expect(() => guiderFrom("autoguidance:attention=1,alpha=0.5,scale=2")).toThrow(new RangeError("Expected either alpha or attention=1 for guidance policy autoguidance, not both"));
    expect(() => guiderFrom("interval:scale=4,sigmaLo=0.8,sigmaHi=0.5")).toThrow(new RangeError("Expected number greater than sigmaLo (0.8) for interval.sigmaHi but received 0.5"));
    expect(() => guiderFrom("apg:cfgScale=4,normThreshold=-1")).toThrow(new RangeError("Expected non-negative number for apg.normThreshold but received -1"));
    expect(() => guiderFrom("schedule:scale=7,shape=exp")).toThrow(new RangeError('Expected one of linear, cosine for schedule.shape but received "exp"'));
    expect(() => guiderFrom("schedule:scale=7,power=2")).toThrow(/^Unknown parameter "power" for guidance policy schedule: expected one of scale, shape, floor, /);
    expect(() => guiderFrom("schedule:shape=linear")).toThrow(new TypeError("Expected finite number for guidance policy schedule.scale but received undefined"));
    expect(() => new Autoguidance({ scale: 2 })).toThrow(new TypeError("Expected exactly one of weak (perturbations), weakModel and weakRank for autoguidance.weak but received undefined"));
  });
});

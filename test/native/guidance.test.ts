// The guidance seam on native tensors and the glyph DiT: combineBranches evaluates CFG exactly as the pipeline always
// did (uncond + s·(cond − uncond), bit for bit), and Pipeline.generate driven by a Guider gives bit-identical latents
// to the previous inline loop (one 2B forward, slices, sub/scale/add, scheduler step), for CFG given as a scale, as
// a SPEC and at scale 1 — each step one model.session() job (branches, anchored CFG epilogue, flow-Euler update),
// the same bits as a scheduler without stepTerms that takes the separate calls; a Guider whose branches have
// different block plans runs them as branches with their own plans. With a cache policy: a per-step (scheduled)
// linear scale and a non-linear method (APG) follow the policy's plans (all computed = the uncached bits), `auto`
// composes with `--cache auto`, a second model's branch and a changing branch count are refused.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { Autoguidance } from "../../src/guidance/autoguidance.js";
import { ClassifierFreeGuidance } from "../../src/guidance/cfg.js";
import { affineCombination, combineBranches, type Guider } from "../../src/guidance/guider.js";
import { loadModel, type Model } from "../../src/model.js";
import { referenceGaussian } from "../../src/noise/index.js";
import { Pipeline } from "../../src/pipeline/index.js";
import { blockPlan, COMPUTE_ALL } from "../../src/plan.js";
import { createGlyphReferenceScheduler } from "../../src/schedulers/index.js";
import { Tensor } from "../../src/tensor.js";

const MODEL = new URL("../../examples/models/glyphs", import.meta.url).pathname;
const LABELS = [3, 7];
const SEEDS = [12345, 12346];
const STEPS = 3;

let model: Model;
let pipe: Pipeline;
beforeAll(async () => {
  model = await loadModel(MODEL, { threads: 2 });
  pipe = await Pipeline.load({ kind: "class-conditional", model });
});
afterAll(async () => {
  await pipe?.dispose();
  model?.dispose();
});

function random(seed: number, n: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 6 - 3);
}

/** The pipeline's sampling loop as it was before the Guider (the f32 reference for bit identity). */
async function inlineLoop(scale: number, skipInUncond?: number): Promise<Float32Array> {
  const { inChannels: c, inputSize: size, numClasses } = model.config;
  const perSample = c * size * size;
  const noise = new Float32Array(LABELS.length * perSample);
  SEEDS.forEach((seed, k) => noise.set(referenceGaussian(seed, perSample), k * perSample));
  const scheduler = createGlyphReferenceScheduler();
  const timesteps = scheduler.timesteps(STEPS);
  let x = Tensor.from(noise, [LABELS.length, c, size, size]);
  const batch = LABELS.length;
  for (const t of timesteps) {
    let velocity: Tensor;
    if (scale === 1) velocity = (await model.forwardDetailed(x, new Float32Array(batch).fill(t), LABELS)).out;
    else if (skipInUncond === undefined) {
      const input = Tensor.concat([x, x]);
      const { out } = await model.forwardDetailed(input, new Float32Array(2 * batch).fill(t), [...LABELS, ...LABELS.map(() => numClasses)]);
      const cond = out.slice(0, batch), uncond = out.slice(batch, 2 * batch);
      const diff = cond.sub(uncond), guided = diff.scale(scale);
      velocity = uncond.add(guided);
      for (const tensor of [input, out, cond, uncond, diff, guided]) tensor.dispose();
    } else {
      const { out: cond } = await model.forwardDetailed(x, new Float32Array(batch).fill(t), LABELS);
      const { out: weak } = await model.forwardDetailed(x, new Float32Array(batch).fill(t), LABELS.map(() => numClasses), { skipBlocks: [skipInUncond] });
      const diff = cond.sub(weak), guided = diff.scale(scale);
      velocity = weak.add(guided);
      for (const tensor of [cond, weak, diff, guided]) tensor.dispose();
    }
    const next = scheduler.step(velocity, t, x);
    velocity.dispose();
    x.dispose();
    x = next;
  }
  const values = x.toFloat32Array();
  x.dispose();
  return values;
}

async function generate(options: { guidanceScale?: number; guidance?: Guider | string }): Promise<{ latents: Float32Array; stats: Awaited<ReturnType<Pipeline["generate"]>>["stats"] }> {
  const out = await pipe.generate({ classLabels: LABELS, seed: SEEDS, steps: STEPS, noise: "reference", ...options });
  const latents = out.latents.toFloat32Array();
  out.latents.dispose();
  return { latents, stats: out.stats };
}

describe("combineBranches", () => {
  it("is uncond + s·(cond − uncond) in float32, bit for bit, and passes a single branch through", () => {
    const shape = [3, 5, 7, 9];
    const n = 3 * 5 * 7 * 9;
    const cond = Tensor.from(random(1, n), shape), uncond = Tensor.from(random(2, n), shape);
    for (const scale of [4, 2, 0.3, -1.7]) {
      const cfg = new ClassifierFreeGuidance({ scale });
      const got = combineBranches(cfg.combination(), [cond, uncond]);
      const diff = cond.sub(uncond), guided = diff.scale(scale), want = uncond.add(guided);
      expect(got.toFloat32Array()).toEqual(want.toFloat32Array());
      for (const t of [got, diff, guided, want]) t.dispose();
    }
    expect(combineBranches(new ClassifierFreeGuidance({ scale: 1 }).combination(), [cond])).toBe(cond);
    expect(() => combineBranches(affineCombination(2, 1, { 0: 2 }), [cond])).toThrow(new TypeError("Expected array of 2 Tensors (one per branch) for outputs but received object[]"));
    cond.dispose();
    uncond.dispose();
  });
});

describe("Pipeline driven by a Guider", () => {
  it("gives the same latents as the inline CFG loop, bit for bit (scale, SPEC and scale 1)", async () => {
    const reference = await inlineLoop(4);
    expect((await generate({ guidanceScale: 4 })).latents).toEqual(reference);
    expect((await generate({ guidanceScale: 2, guidance: "cfg:scale=4" })).latents).toEqual(reference);
    const plain = await generate({ guidanceScale: 1 });
    expect(plain.latents).toEqual(await inlineLoop(1));
    expect(plain.stats.forwards).toBe(LABELS.length * STEPS);
  });

  it("runs each step as one session job, and a scheduler without stepTerms through the separate calls, same bits", async () => {
    const sessions = vi.spyOn(model, "session");
    const forwards = vi.spyOn(model, "forwardDetailed");
    try {
      const fused = await generate({ guidanceScale: 4 });
      expect(sessions).toHaveBeenCalledTimes(1);
      expect(forwards).not.toHaveBeenCalled();
      // Only the scheduler contract's three members: no stepTerms / advance, so today's path (one 2B forward per step).
      const reference = createGlyphReferenceScheduler();
      const plain = {
        timesteps: (n: number) => reference.timesteps(n),
        get sigmas() { return reference.sigmas; },
        step: (v: Tensor, t: number, x: Tensor) => reference.step(v, t, x),
      };
      const out = await pipe.generate({ classLabels: LABELS, seed: SEEDS, steps: STEPS, noise: "reference", guidanceScale: 4, scheduler: plain });
      expect(sessions).toHaveBeenCalledTimes(1);
      expect(forwards).toHaveBeenCalledTimes(STEPS);
      expect(out.latents.toFloat32Array()).toEqual(fused.latents);
      expect(out.stats).toMatchObject({ ...fused.stats, wallMs: out.stats.wallMs, peakBytes: out.stats.peakBytes });
      out.latents.dispose();
    } finally {
      sessions.mockRestore();
      forwards.mockRestore();
    }
  });

  it("runs branches with different block plans (own plans per branch) and counts the skipped blocks", async () => {
    const depth = model.config.depth;
    const weakPlan = blockPlan({ 2: { kind: "skip" } });
    const guider: Guider = {
      kind: "test-weak-uncond",
      branches: () => [
        { name: "cond", condition: "class", plan: COMPUTE_ALL },
        { name: "weak", condition: "null", plan: weakPlan },
      ],
      combination: () => affineCombination(2, 1, { 0: 3 }),
      toJSON: () => ({ kind: "test-weak-uncond" }),
    };
    const { latents, stats } = await generate({ guidance: guider });
    expect(latents).toEqual(await inlineLoop(3, 2));
    const macs = model.macsPerSample();
    expect(stats.forwards).toBe(2 * LABELS.length * STEPS);
    expect(stats.blocksComputed).toBe(LABELS.length * STEPS * (2 * depth - 1));
    expect(stats.macs).toBe(LABELS.length * STEPS * (2 * macs.total - macs.blocks / depth));
    expect(stats.macsUncached).toBe(2 * LABELS.length * STEPS * macs.total);
  });
});

describe("guidance with a cache policy", () => {
  const run = async (guidance: string | Guider, steps: number, cache?: string) => {
    const out = await pipe.generate({ classLabels: LABELS, seed: SEEDS, steps, noise: "reference", guidance, ...(cache ? { cache } : {}) });
    const latents = out.latents.toFloat32Array();
    out.latents.dispose();
    return { latents, stats: out.stats };
  };

  it("a scheduled scale keeps its per-step weights on the cached path: every block computed = the uncached bits", async () => {
    const plain = await run("schedule:scale=7", 4);
    const cached = await run("schedule:scale=7", 4, "fora:interval=1");
    expect(cached.latents).toEqual(plain.latents);
    expect(cached.stats.blocksReused).toBe(0);
    // The schedule is not a constant scale (the test would pass for a guider that ignores σ otherwise).
    expect((await run("cfg:scale=7", 4, "fora:interval=1")).latents).not.toEqual(plain.latents);
  });

  it("auto composes with --cache auto: blocks reused, fewer MACs, latents close to the uncached run", async () => {
    const steps = 16;
    const plain = await run("auto", steps);
    const cached = await run("auto", steps, "auto");
    expect(cached.stats.blocksReused).toBeGreaterThan(0);
    expect(cached.stats.macs).toBeLessThan(plain.stats.macs);
    let err = 0, ref = 0;
    for (let i = 0; i < plain.latents.length; i++) { err += (cached.latents[i]! - plain.latents[i]!) ** 2; ref += plain.latents[i]! ** 2; }
    expect(Math.sqrt(err / ref)).toBeLessThan(0.1);
  });

  it("steps that switch between the guided-in-JS path and the one-job step share the cache state (auto's σ window)", async () => {
    // Above σ = 0.5 the weak branches run (second model: the JS path), below plain CFG runs as one job: one session
    // must hold the policy's stored blocks across the switch.
    const plain = await run("auto", 6);
    expect((await run("auto", 6, "fora:interval=1")).latents).toEqual(plain.latents);
    const reused = await run("auto", 6, "fora:interval=2");
    const cfg = await run("cfg:scale=4", 6, "fora:interval=2");
    expect(reused.stats.blocksReused).toBe(cfg.stats.blocksReused);
    expect(reused.stats.blocksReused).toBeGreaterThan(0);
  });

  it("a non-linear method (APG) takes the cache's plans too: every block computed = the uncached bits; reuse with fora", async () => {
    const plain = await run("apg:cfgScale=6", 4);
    expect((await run("apg:cfgScale=6", 4, "fora:interval=1")).latents).toEqual(plain.latents);
    const reused = await run("apg:cfgScale=6", 4, "fora:interval=2");
    // The same reuse as the one-job step with the same policy (CFG's two branches).
    const linear = await run("cfg:scale=6", 4, "fora:interval=2");
    expect(reused.stats.blocksReused).toBeGreaterThan(0);
    expect(reused.stats).toMatchObject({ blocksReused: linear.stats.blocksReused, blocksComputed: linear.stats.blocksComputed });
    expect(reused.latents).not.toEqual(plain.latents);
  });

  it("a branch on a second model runs uncached beside the cached branches of the pipeline's model", async () => {
    const weakModel = await loadModel(MODEL, { threads: 2 });
    try {
      const ag = new Autoguidance({ weakModel, scale: 2, cfgScale: 4 });
      const plain = await run(ag, 4);
      const everyBlock = await run(ag, 4, "fora:interval=1");
      expect(everyBlock.latents).toEqual(plain.latents);
      expect(everyBlock.stats.blocksReused).toBe(0);
      const reused = await run(ag, 4, "fora:interval=2");
      const cfg = await run("cfg:scale=4", 4, "fora:interval=2");
      // The pipeline model's two branches reuse what CFG's do under the same policy; the weak model counts in full.
      const weakMacs = LABELS.length * 4 * weakModel.macsPerSample().total;
      expect(reused.stats.blocksReused).toBe(cfg.stats.blocksReused);
      expect(reused.stats.blocksComputed).toBe(cfg.stats.blocksComputed + LABELS.length * 4 * weakModel.config.depth);
      // (the session's own count of a full forward, within 0.1 % of macsPerSample's estimate)
      expect(Math.abs(reused.stats.macs - cfg.stats.macs - weakMacs) / weakMacs).toBeLessThan(1e-3);
      expect(reused.latents).not.toEqual(plain.latents);
    } finally {
      weakModel.dispose();
    }
  });

  it("refuses a step without branches and a branch count that changes between steps", async () => {
    await expect(pipe.generate({ classLabels: LABELS, seed: SEEDS, steps: 3, guidance: "cfgZeroStar:cfgScale=4,zeroInitSteps=1", cache: "fora:interval=2" }))
      .rejects.toThrow(new RangeError("Expected guidance branches at every step for a cache policy but received none at the first step of cfgZeroStar"));
    const cfg = new ClassifierFreeGuidance({ scale: 4 }), condOnly = new ClassifierFreeGuidance({ scale: 1 });
    const changing: Guider = {
      kind: "test-changing",
      branches: (st) => (st.index === 0 ? cfg : condOnly).branches(),
      combination: (st) => (st.index === 0 ? cfg : condOnly).combination(),
      toJSON: () => ({ kind: "test-changing" }),
    };
    await expect(pipe.generate({ classLabels: LABELS, seed: SEEDS, steps: 3, guidance: changing, cache: "fora:interval=2" }))
      .rejects.toThrow(new RangeError("Expected the same number of guidance branches at every step for a cache policy but received 1 at step 1 (2 at the first)"));
  });
});

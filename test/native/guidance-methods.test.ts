// Guidance methods on the glyph DiT through Pipeline.generate (docs/guidance.md): a three-branch method whose weak
// branch shares the first half of the blocks with the conditional one (prefix sharing, one fused job per step) gives
// the same latents bit for bit as separate, unshared forwards per branch; autoguidance from a second, weaker model
// (the fixture's weights with noise, written in the test) equals the same loop run by hand; the guidance interval
// and CFG-Zero*'s zeroed steps pay only for the branches they run; APG runs through the non-linear path; autoguidance
// from the model's own low-rank copy (weakRank) equals that copy loaded by hand, and `auto` runs unchanged on a DiT of
// another depth.
import { mkdtempSync, copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Autoguidance } from "../../src/guidance/autoguidance.js";
import { combineBranches, type GuidanceStep, type Guider } from "../../src/guidance/guider.js";
import { loadLowRankModel } from "../../src/guidance/lowRank.js";
import { guiderFrom } from "../../src/guidance/policy.js";
import { formatSpec } from "../../src/policySpec.js";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.js";
import { loadModel, type Model } from "../../src/model.js";
import { referenceGaussian } from "../../src/noise/index.js";
import { Pipeline } from "../../src/pipeline/index.js";
import { planForwardOptions } from "../../src/plan.js";
import { createGlyphReferenceScheduler } from "../../src/schedulers/index.js";
import { Tensor } from "../../src/tensor.js";

const MODEL = new URL("../../examples/models/glyphs", import.meta.url).pathname;
const LABELS = [3, 8];
const SEEDS = [7, 8];
const STEPS = 3;

let model: Model, weakModel: Model, pipe: Pipeline, weakDir: string;
beforeAll(async () => {
  model = await loadModel(MODEL, { threads: 2 });
  pipe = await Pipeline.load({ kind: "class-conditional", model });
  // A weaker checkpoint: the fixture's weights with Gaussian noise of 5% of each tensor's RMS.
  weakDir = mkdtempSync(path.join(tmpdir(), "ditto-weak-"));
  copyFileSync(path.join(MODEL, "dit.json"), path.join(weakDir, "dit.json"));
  const content = readSafetensors(path.join(MODEL, "dit.safetensors"));
  const noisy: Record<string, { shape: number[]; data: Float32Array }> = {};
  let seed = 1;
  for (const [name, t] of content.tensors) {
    const data = Float32Array.from(t.data as Float32Array);
    const rms = Math.sqrt(data.reduce((a, v) => a + v * v, 0) / data.length);
    const noise = referenceGaussian(seed++, data.length);
    if (name !== "pos_embed") for (let i = 0; i < data.length; i++) data[i] += 0.05 * rms * noise[i]!;
    noisy[name] = { shape: t.shape, data };
  }
  writeSafetensors(path.join(weakDir, "dit.safetensors"), noisy);
  weakModel = await loadModel(weakDir, { threads: 2 });
});
afterAll(async () => {
  await pipe?.dispose();
  model?.dispose();
  weakModel?.dispose();
  if (weakDir) rmSync(weakDir, { recursive: true, force: true });
});

async function generate(guidance: Guider | string) {
  const out = await pipe.generate({ classLabels: LABELS, seed: SEEDS, steps: STEPS, noise: "reference", guidance });
  const latents = out.latents.toFloat32Array();
  out.latents.dispose();
  return { latents, stats: out.stats };
}

/** The sampling loop by hand: one separate forward per branch (no batching, no shared prefix), combineBranches, Euler. */
async function separateLoop(guider: Guider): Promise<Float32Array> {
  const { inChannels: c, inputSize: size, numClasses, depth } = model.config;
  const perSample = c * size * size;
  const noise = new Float32Array(LABELS.length * perSample);
  SEEDS.forEach((seed, k) => noise.set(referenceGaussian(seed, perSample), k * perSample));
  const scheduler = createGlyphReferenceScheduler();
  const timesteps = scheduler.timesteps(STEPS), sigmas = scheduler.sigmas!;
  let x = Tensor.from(noise, [LABELS.length, c, size, size]);
  for (const [i, t] of timesteps.entries()) {
    const step: GuidanceStep = { index: i, total: STEPS, sigma: sigmas[i]!, t, depth };
    const outputs: Tensor[] = [];
    for (const b of guider.branches(step)) {
      const labels = b.condition === "null" ? LABELS.map(() => numClasses) : LABELS;
      const { out } = await (b.model ?? model).forwardDetailed(x, new Float32Array(LABELS.length).fill(t), labels, planForwardOptions(b.plan));
      outputs.push(out);
    }
    const combination = guider.combination(step);
    if ("nonlinear" in combination) throw new Error("linear expected");
    const v = combineBranches(combination, outputs);
    for (const o of outputs) if (o !== v) o.dispose();
    const next = scheduler.step(v, t, x);
    v.dispose();
    x.dispose();
    x = next;
  }
  const values = x.toFloat32Array();
  x.dispose();
  return values;
}

describe("guidance methods on the glyph DiT", () => {
  it("a weak branch sharing the first half of the blocks equals unshared separate forwards, bit for bit", async () => {
    const ag = new Autoguidance({ weak: { kind: "scale", alpha: 0.8, from: 0.5, to: 1 }, scale: 2, cfgScale: 3 });
    const { latents, stats } = await generate(ag);
    expect(latents).toEqual(await separateLoop(ag));
    expect(stats.forwards).toBe(3 * LABELS.length * STEPS);
    const strongWeak = guiderFrom("strongWeak:strongAlpha=1.2,strongTo=0.5,weakAlpha=0,weakFrom=0.5,weakTo=1,scale=1.5");
    expect((await generate(strongWeak)).latents).toEqual(await separateLoop(strongWeak));
  });

  it("autoguidance from a second, weaker model equals the loop by hand and differs from the model alone", async () => {
    const ag = new Autoguidance({ weakModel, scale: 2 });
    const { latents, stats } = await generate(ag);
    expect(latents).toEqual(await separateLoop(ag));
    expect(stats.forwards).toBe(2 * LABELS.length * STEPS);
    expect(latents).not.toEqual((await generate("cfg:scale=1")).latents);
    expect(() => ag.toJSON()).toThrow(new RangeError("Autoguidance with a weakModel has no SPEC form (a loaded model is not serialisable): keep the object"));
  });

  it("autoguidance from the model's own low-rank copy (weakRank) equals the copy loaded by hand as a weakModel; the SPEC round-trips", async () => {
    const spec = "autoguidance:weakRank=0.6,scale=1.5,cfgScale=4";
    const ag = guiderFrom(spec) as Autoguidance;
    expect(formatSpec(ag.toJSON())).toBe(spec);
    const { latents, stats } = await generate(ag);
    expect(stats.forwards).toBe(3 * LABELS.length * STEPS);
    const copy = await loadLowRankModel(model, 0.6, { threads: 2 });
    try {
      expect(latents).toEqual((await generate(new Autoguidance({ weakModel: copy, scale: 1.5, cfgScale: 4 }))).latents);
    } finally {
      copy.dispose();
    }
    expect(latents).not.toEqual((await generate("cfg:scale=4")).latents);
    // weakUncond + weakSigmaLo: four branches (the copy run with the class and the null label) above σ = 0.5, plain CFG
    // below; equal to the copy loaded by hand and to the loop written out with it.
    const both = guiderFrom("autoguidance:weakRank=0.6,scale=1.25,cfgScale=4,weakUncond=1,weakSigmaLo=0.5");
    const bothRun = await generate(both);
    const scheduler = createGlyphReferenceScheduler();
    scheduler.timesteps(STEPS);
    const weakSteps = scheduler.sigmas!.slice(0, STEPS).filter((sigma) => sigma > 0.5 + 1e-6).length;
    expect(weakSteps).toBeGreaterThan(0);
    expect(weakSteps).toBeLessThan(STEPS);
    expect(bothRun.stats.forwards).toBe(LABELS.length * (2 * STEPS + 2 * weakSteps));
    const copy2 = await loadLowRankModel(model, 0.6, { threads: 2 });
    try {
      const byHand = new Autoguidance({ weakModel: copy2, scale: 1.25, cfgScale: 4, weakUncond: true, weakSigmaLo: 0.5 });
      expect(bothRun.latents).toEqual((await generate(byHand)).latents);
      expect(bothRun.latents).toEqual(await separateLoop(byHand));
    } finally {
      copy2.dispose();
    }
    expect(() => guiderFrom("autoguidance:weakRank=0.6,alpha=0.5,scale=2"))
      .toThrow(new RangeError("Expected either weakRank or a perturbation (alpha, attention, from, to, layers) for guidance policy autoguidance, not both"));
    expect(() => guiderFrom("autoguidance:weakRank=1,scale=2")).toThrow("Expected number in (0, 1) for autoguidance.weakRank but received 1");
  });

  it("auto runs unchanged on a DiT of another depth (the glyph DiT cut to 3 blocks): its own low-rank copy, 4 + 2 + 2 + 2 evaluations in 4 steps", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ditto-depth3-"));
    try {
      const config = JSON.parse(readFileSync(path.join(MODEL, "dit.json"), "utf8"));
      config.kwargs.depth = 3;
      writeFileSync(path.join(dir, "dit.json"), JSON.stringify(config));
      const content = readSafetensors(path.join(MODEL, "dit.safetensors"));
      const kept: Record<string, { shape: number[]; data: Float32Array }> = {};
      for (const [name, t] of content.tensors) if (!/^blocks\.[3-9]\./.test(name)) kept[name] = { shape: t.shape, data: t.data as Float32Array };
      writeSafetensors(path.join(dir, "dit.safetensors"), kept);
      const shallow = await Pipeline.load({ kind: "class-conditional", model: dir, threads: 2 });
      try {
        expect(shallow.model.config.depth).toBe(3);
        const out = await shallow.generate({ classLabels: LABELS, seed: SEEDS, steps: 4, guidance: "auto" });
        const latents = out.latents.toFloat32Array();
        out.latents.dispose();
        // σ = 1, 0.75, 0.5, 0.25: the weak branches (class and null label) at step 0, the term reused at step 1
        // (σ 0.75 > 0.5), plain CFG at steps 2 and 3.
        expect(out.stats.forwards).toBe((4 + 2 + 2 + 2) * LABELS.length);
        expect(latents.every(Number.isFinite)).toBe(true);
        const cfg = await shallow.generate({ classLabels: LABELS, seed: SEEDS, steps: 4, guidanceScale: 4 });
        expect(latents).not.toEqual(cfg.latents.toFloat32Array());
        cfg.latents.dispose();
      } finally {
        await shallow.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the interval and CFG-Zero*'s zeroed steps pay only for the branches they run; APG runs through the non-linear path", async () => {
    // σ = 1, 2/3, 1/3: the interval (0.5, 1] guides the first two steps only.
    expect((await generate("interval:scale=4,sigmaLo=0.5,sigmaHi=1")).stats.forwards).toBe(LABELS.length * (2 + 2 + 1));
    const zero = await generate("cfgZeroStar:cfgScale=4,zeroInitSteps=1");
    expect(zero.stats.forwards).toBe(2 * LABELS.length * (STEPS - 1));
    const apg = await generate("apg:cfgScale=4,momentum=0,eta=1,normThreshold=0");
    // With η = 1, no momentum and no clip APG is CFG (on x0, hence on v): the same images up to float rounding.
    const cfg = await generate("cfg:scale=4");
    for (let i = 0; i < cfg.latents.length; i++) expect(Math.abs(apg.latents[i]! - cfg.latents[i]!)).toBeLessThan(1e-4);
    // The paper's defaults (η = 0, β = −0.5, r = 10) change them.
    expect((await generate("apg:cfgScale=4")).latents).not.toEqual(cfg.latents);
  });
});

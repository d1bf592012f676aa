// Classifier-free guidance in the latent pipeline (src/pipeline/latentGuidance.ts, docs/models.md) on the tiny golden
// models (latents only, no VAE): guidanceScale 1 is the unguided run bit for bit, and the unguided run is the
// conditional forward per step bit for bit; a 2-step CFG run of SD3 (FlowMatch Euler), PixArt (DPM-Solver++(2M),
// learned σ) and Wan (UniPC) matches a hand-built reference — two separate model.forward calls per step (positive,
// negative), uncond + g·(cond − uncond) in float32, the family's scheduler built here — to 1e-5; a guidance SPEC
// equals guidanceScale; APG / CFG-Zero* run on a flow family; Flux-dev's guidanceScale is its guidance embedding; the
// refusals with their exact messages; and `ditto generate --negative-embeddings FILE --cfg G` through the built CLI.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it, vi } from "vitest";

import { readSafetensors, toFloat32Array, writeSafetensors } from "../../src/io/safetensors.js";
import { loadModel, type Model } from "../../src/model.js";
import { batchNoiseTensor } from "../../src/noise/index.js";
import { LatentPipeline } from "../../src/pipeline/latent.js";
import { createScheduler } from "../../src/schedulers/index.js";
import { Session } from "../../src/session.js";
import type { Scheduler } from "../../src/schedulers/types.js";
import { Tensor } from "../../src/tensor.js";
import { GOLDEN, REPO_ROOT } from "../shared-paths.js";

const tmp = mkdtempSync(path.join(tmpdir(), "ditto-latent-cfg-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const has = (name: string) => existsSync(path.join(GOLDEN, name, "config.json"));

function ioTensor(name: string, tensor: string): Tensor {
  const t = readSafetensors(path.join(GOLDEN, name, "io.safetensors")).tensors.get(tensor)!;
  return Tensor.from(toFloat32Array(t), t.shape);
}

/** Deterministic values in [−1, 1) (32-bit LCG) shaped like `like`: a stand-in for the negative prompt's embeddings. */
function randomLike(like: Tensor, seed: number): Tensor {
  let state = seed >>> 0;
  const n = like.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 31 - 1;
  return Tensor.from(out, like.shape);
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  const x = a.toFloat32Array(), y = b.toFloat32Array();
  expect(a.shape).toEqual(b.shape);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

/** The first `c` channels of [B, C', …] (the ε half of a learned-σ output). */
function firstChannels(x: Float32Array, shape: readonly number[], c: number): Tensor {
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  const out = new Float32Array(shape[0]! * c * inner);
  for (let b = 0; b < shape[0]!; b++) out.set(x.subarray(b * shape[1]! * inner, (b * shape[1]! + c) * inner), b * c * inner);
  return Tensor.from(out, [shape[0]!, c, ...shape.slice(2)]);
}

/**
 * The reference loop: Philox noise per sample seed, then per step two separate forwards (conditional, unconditional)
 * and v = v_u + g·(v_c − v_u) rounded to float32 step by step (no batching, no session), the ε half for learned σ,
 * and the scheduler's step. `g` undefined: the conditional forward alone.
 */
async function referenceRun(
  model: Model, scheduler: Scheduler, shape: number[], steps: number, cond: Record<string, Tensor> | number[], neg: Record<string, Tensor> | number[] | undefined, g: number | undefined,
): Promise<Tensor> {
  const batch = shape[0]!;
  let x = await batchNoiseTensor("philox", Array.from({ length: batch }, (_, k) => k), shape.slice(1));
  for (const t of scheduler.timesteps(steps)) {
    const tIn = new Float32Array(batch).fill(t);
    const vc = await model.forward(x, tIn, cond);
    let values = vc.toFloat32Array();
    if (g !== undefined) {
      const vu = (await model.forward(x, tIn, neg!)).toFloat32Array();
      values = values.map((c, i) => Math.fround(vu[i]! + Math.fround(g * Math.fround(c - vu[i]!))));
    }
    const prediction = vc.shape[1]! > shape[1]! ? firstChannels(values, vc.shape, shape[1]!) : Tensor.from(values, vc.shape);
    const next = scheduler.step(prediction, t, x);
    x.dispose();
    x = next;
  }
  return x;
}

interface FamilyCase {
  name: string;
  scheduler: () => Scheduler;
  conditions: () => Record<string, Tensor>;
  negative: () => Record<string, Tensor>;
  size: { height: number; width: number; frames?: number };
  shape: (batch: number) => number[];
}

const CASES: FamilyCase[] = [
  {
    name: "sd3",
    scheduler: () => createScheduler("flow-euler", { shift: 3.0 }),
    conditions: () => ({ encoderHiddenStates: ioTensor("sd3", "encoder_hidden_states"), pooledProjections: ioTensor("sd3", "pooled_projections") }),
    negative: () => ({ encoderHiddenStates: randomLike(ioTensor("sd3", "encoder_hidden_states"), 1), pooledProjections: randomLike(ioTensor("sd3", "pooled_projections"), 2) }),
    size: { height: 64, width: 64 },
    shape: (b) => [b, 8, 8, 8],
  },
  {
    name: "pixart",
    scheduler: () => createScheduler("dpm++2m", { betaSchedule: "linear", betaStart: 0.0001, betaEnd: 0.02 }),
    conditions: () => ({ encoderHiddenStates: ioTensor("pixart", "encoder_hidden_states"), encoderAttentionMask: ioTensor("pixart", "encoder_attention_mask") }),
    negative: () => {
      const mask = ioTensor("pixart", "encoder_attention_mask");
      return { encoderHiddenStates: randomLike(ioTensor("pixart", "encoder_hidden_states"), 3), encoderAttentionMask: Tensor.from(new Float32Array(mask.shape[0]! * mask.shape[1]!).fill(1), mask.shape) };
    },
    size: { height: 64, width: 64 },
    shape: (b) => [b, 4, 8, 8],
  },
  {
    name: "wan",
    scheduler: () => createScheduler("unipc", { flowShift: 3.0 }),
    conditions: () => ({ encoderHiddenStates: ioTensor("wan", "encoder_hidden_states") }),
    negative: () => ({ encoderHiddenStates: randomLike(ioTensor("wan", "encoder_hidden_states"), 4) }),
    size: { height: 32, width: 32, frames: 2 },
    shape: (b) => [b, 4, 2, 4, 4],
  },
];

for (const c of CASES) {
  describe.skipIf(!has(c.name))(`${c.name}: classifier-free guidance in the latent pipeline`, () => {
    it("a 2-step CFG run equals two separate forwards per step combined by hand (1e-5); scale 1 is the unguided run bit for bit", async () => {
      using pipe = await LatentPipeline.load(path.join(GOLDEN, c.name), { threads: 2 });
      expect([pipe.family, pipe.hasVae]).toEqual([c.name, false]);
      const conditions = c.conditions(), negative = c.negative();
      const batch = conditions.encoderHiddenStates!.shape[0]!;
      const guided = await pipe.generate({ conditions, negative, guidanceScale: 4.5, steps: 2, ...c.size });
      expect(guided.latents.shape).toEqual(c.shape(batch));
      expect(guided.latents.countNonFinite()).toBe(0);
      const reference = await referenceRun(pipe.model, c.scheduler(), c.shape(batch), 2, conditions, negative, 4.5);
      expect(maxAbsDiff(guided.latents, reference)).toBeLessThan(1e-5);

      const unguided = await pipe.generate({ conditions, steps: 2, ...c.size });
      const scaleOne = await pipe.generate({ conditions, negative, guidanceScale: 1, steps: 2, ...c.size });
      expect(scaleOne.latents.toFloat32Array()).toEqual(unguided.latents.toFloat32Array());
      const plain = await referenceRun(pipe.model, c.scheduler(), c.shape(batch), 2, conditions, undefined, undefined);
      expect(unguided.latents.toFloat32Array()).toEqual(plain.toFloat32Array());
      // Guidance changes the result (the negative branch is really used).
      expect(maxAbsDiff(guided.latents, unguided.latents)).toBeGreaterThan(1e-3);
    });
  });
}

describe.skipIf(!has("dit-official"))("DiT (labels) in the latent pipeline", () => {
  it("guidanceScale without negative uses the null class: equal to the hand-built reference with null labels (1e-5)", async () => {
    using pipe = await LatentPipeline.load(path.join(GOLDEN, "dit-official"), { threads: 2 });
    const nullClass = Number(pipe.model.config.numClasses);
    const size = { height: 128, width: 128, steps: 2 };
    const guided = await pipe.generate({ conditions: [3, 10], guidanceScale: 4, ...size });
    expect(guided.latents.shape).toEqual([2, 4, 16, 16]);
    const explicit = await pipe.generate({ conditions: [3, 10], negative: [nullClass, nullClass], guidanceScale: 4, ...size });
    expect(explicit.latents.toFloat32Array()).toEqual(guided.latents.toFloat32Array());
    const reference = await referenceRun(pipe.model, createScheduler("dit-ddim"), [2, 4, 16, 16], 2, [3, 10], [nullClass, nullClass], 4);
    expect(maxAbsDiff(guided.latents, reference)).toBeLessThan(1e-5);
    const unguided = await pipe.generate({ conditions: [3, 10], ...size });
    expect(maxAbsDiff(guided.latents, unguided.latents)).toBeGreaterThan(1e-4);
  });
});

describe.skipIf(!has("sd3"))("SD3: guidance methods and refusals", () => {
  const conditions = () => CASES[0]!.conditions();
  const negative = () => CASES[0]!.negative();
  const size = { height: 64, width: 64, steps: 2 };

  it("guidance 'cfg:scale=4.5' equals guidanceScale 4.5 bit for bit; apg and cfgZeroStar run and differ from CFG", async () => {
    using pipe = await LatentPipeline.load(path.join(GOLDEN, "sd3"), { threads: 2 });
    // One session step per sampling step, both branches in it (conditional first).
    const spy = vi.spyOn(Session.prototype, "step");
    const cfg = await pipe.generate({ conditions: conditions(), negative: negative(), guidanceScale: 4.5, ...size });
    expect(spy.mock.calls.map((call) => call[2].branches.map((b) => b.key))).toEqual([["cond", "uncond"], ["cond", "uncond"]]);
    spy.mockRestore();
    const spec = await pipe.generate({ conditions: conditions(), negative: negative(), guidance: "cfg:scale=4.5", ...size });
    expect(spec.latents.toFloat32Array()).toEqual(cfg.latents.toFloat32Array());
    // The guidance interval on the flow σ of the steps: (0, 1] holds every step; (0, 0.5] not the first (σ = 1).
    const all = await pipe.generate({ conditions: conditions(), negative: negative(), guidance: "interval:scale=4.5,sigmaLo=0,sigmaHi=1", ...size });
    expect(all.latents.toFloat32Array()).toEqual(cfg.latents.toFloat32Array());
    const none = await pipe.generate({ conditions: conditions(), negative: negative(), guidance: "interval:scale=4.5,sigmaLo=0,sigmaHi=0.5", ...size, steps: 1 });
    const unguided = await pipe.generate({ conditions: conditions(), ...size, steps: 1 });
    expect(none.latents.toFloat32Array()).toEqual(unguided.latents.toFloat32Array());
    for (const method of ["apg:cfgScale=4.5", "cfgZeroStar:cfgScale=4.5"]) {
      const out = await pipe.generate({ conditions: conditions(), negative: negative(), guidance: method, ...size });
      expect(out.latents.shape, method).toEqual(cfg.latents.shape);
      expect(out.latents.countNonFinite(), method).toBe(0);
      expect(maxAbsDiff(out.latents, cfg.latents), method).toBeGreaterThan(1e-4);
    }
  });

  it("an abort during a guided generation rejects with ERR_ABORTED and leaves the pipeline usable", async () => {
    using pipe = await LatentPipeline.load(path.join(GOLDEN, "sd3"), { threads: 2 });
    const first = await pipe.generate({ conditions: conditions(), negative: negative(), guidanceScale: 4.5, ...size });
    const controller = new AbortController();
    await expect(pipe.generate({ conditions: conditions(), negative: negative(), guidanceScale: 4.5, ...size, signal: controller.signal, onStep: () => controller.abort() }))
      .rejects.toMatchObject({ code: "ERR_ABORTED" });
    const again = await pipe.generate({ conditions: conditions(), negative: negative(), guidanceScale: 4.5, ...size });
    expect(again.latents.toFloat32Array()).toEqual(first.latents.toFloat32Array());
  });

  it("refuses guidance without negative conditions, mismatched negatives and methods it cannot run", async () => {
    using pipe = await LatentPipeline.load(path.join(GOLDEN, "sd3"), { threads: 2 });
    const pos = conditions();
    const [b, l, d] = pos.encoderHiddenStates!.shape as [number, number, number];
    await expect(pipe.generate({ conditions: pos, guidanceScale: 4, ...size })).rejects.toThrow(new TypeError(
      "Expected an object of negative condition tensors (encoderHiddenStates, pooledProjections: the unconditional branch, e.g. the empty prompt's embeddings) for options.negative with options.guidanceScale but received undefined"));
    await expect(pipe.generate({ conditions: pos, guidance: "cfg:scale=4", ...size })).rejects.toThrow(
      "for options.negative with options.guidance but received undefined");
    await expect(pipe.generate({ conditions: pos, negative: negative(), ...size })).rejects.toThrow(new RangeError(
      "Expected options.guidanceScale or options.guidance with options.negative (the unconditional branch of classifier-free guidance)"));
    await expect(pipe.generate({ conditions: pos, negative: { encoderHiddenStates: negative().encoderHiddenStates! }, guidanceScale: 4, ...size })).rejects.toThrow(new TypeError(
      `Expected Tensor [${b}, 20] (as options.conditions.pooledProjections) for options.negative.pooledProjections but received undefined`));
    const shorter = Tensor.from(new Float32Array(b * (l - 1) * d), [b, l - 1, d]);
    await expect(pipe.generate({ conditions: pos, negative: { ...negative(), encoderHiddenStates: shorter }, guidanceScale: 4, ...size })).rejects.toThrow(new RangeError(
      `Expected shape [${b}, ${l}, ${d}] (as options.conditions.encoderHiddenStates) for options.negative.encoderHiddenStates but received [${b}, ${l - 1}, ${d}]`));
    await expect(pipe.generate({ conditions: pos, negative: negative(), guidanceScale: 4, guidance: "cfg:scale=4", ...size })).rejects.toThrow(new RangeError(
      "Expected options.guidanceScale or options.guidance, not both (a method's CFG scale is its own parameter, e.g. cfgScale)"));
    await expect(pipe.generate({ conditions: pos, negative: negative(), guidanceScale: -1, ...size })).rejects.toThrow(new RangeError(
      "Expected finite number >= 0 for options.guidanceScale but received -1"));
    await expect(pipe.generate({ conditions: pos, negative: negative(), guidance: "slg:layers=1,scale=2,cfgScale=4,start=0,stop=1", ...size })).rejects.toThrow(new RangeError(
      'Guidance method "slg" is not supported by the latent pipeline: its branch "skip:skip@1" changes blocks (supported: methods whose branches are the conditional and unconditional model, e.g. cfg, interval, apg, cfgZeroStar)'));
    await expect(pipe.generate({ conditions: pos, negative: negative(), guidance: "autoguidance:weakRank=0.6,scale=1.5,cfgScale=4", ...size })).rejects.toThrow(new RangeError(
      'Guidance method "autoguidance" is not supported by the latent pipeline: its branch "weak:lowRank=0.6" runs a second model (supported: methods whose branches are the conditional and unconditional model, e.g. cfg, interval, apg, cfgZeroStar)'));
  });
});

describe.skipIf(!has("pixart"))("PixArt: refusals", () => {
  it("takes cfg only (ε prediction) and refuses a negative condition the positive ones do not have", async () => {
    using pipe = await LatentPipeline.load(path.join(GOLDEN, "pixart"), { threads: 2 });
    const { encoderHiddenStates, encoderAttentionMask } = CASES[1]!.negative();
    const conditions = { encoderHiddenStates: ioTensor("pixart", "encoder_hidden_states") };
    const size = { height: 64, width: 64, steps: 1 };
    await expect(pipe.generate({ conditions, negative: { encoderHiddenStates }, guidance: "apg:cfgScale=4", ...size })).rejects.toThrow(new RangeError(
      'Guidance method "apg" does not apply to the pixart latent pipeline: the model predicts ε, the method works on flow velocities and σ (use cfg)'));
    await expect(pipe.generate({ conditions, negative: { encoderHiddenStates }, guidance: "interval:scale=4,sigmaHi=0.5", ...size })).rejects.toThrow(
      'Guidance method "interval" does not apply to the pixart latent pipeline');
    await expect(pipe.generate({ conditions, negative: { encoderHiddenStates, encoderAttentionMask }, guidanceScale: 4, ...size })).rejects.toThrow(new TypeError(
      'Unknown condition "encoderAttentionMask" in options.negative: options.conditions holds encoderHiddenStates (the negative conditions take the same names)'));
  });
});

describe.skipIf(!has("flux"))("Flux-dev: guidanceScale is the guidance embedding", () => {
  it("guidanceScale g equals conditions.guidance = g; negatives and methods are refused", async () => {
    using pipe = await LatentPipeline.load(path.join(GOLDEN, "flux"), { threads: 2 });
    const conditions = () => ({ encoderHiddenStates: ioTensor("flux", "encoder_hidden_states"), pooledProjections: ioTensor("flux", "pooled_projections") });
    const batch = conditions().encoderHiddenStates.shape[0]!;
    const size = { height: 64, width: 64, steps: 2 };
    const scaled = await pipe.generate({ conditions: conditions(), guidanceScale: 5, ...size });
    expect(scaled.latents.shape).toEqual([batch, 4, 8, 8]);
    expect(scaled.latents.countNonFinite()).toBe(0);
    const explicit = await pipe.generate({ conditions: { ...conditions(), guidance: Tensor.from(new Float32Array(batch).fill(5), [batch]) }, ...size });
    expect(scaled.latents.toFloat32Array()).toEqual(explicit.latents.toFloat32Array());
    const byDefault = await pipe.generate({ conditions: conditions(), ...size });
    const at35 = await pipe.generate({ conditions: conditions(), guidanceScale: 3.5, ...size });
    expect(at35.latents.toFloat32Array()).toEqual(byDefault.latents.toFloat32Array());
    expect(maxAbsDiff(scaled.latents, byDefault.latents)).toBeGreaterThan(1e-4);
    await expect(pipe.generate({ conditions: conditions(), negative: conditions(), guidanceScale: 4, ...size })).rejects.toThrow(new RangeError(
      "The flux model takes no options.negative: Flux-dev is guidance-distilled (options.guidanceScale sets its guidance embedding); true CFG with a negative prompt is not supported"));
    await expect(pipe.generate({ conditions: conditions(), guidance: "cfg:scale=4", ...size })).rejects.toThrow(new RangeError(
      "The flux model takes no options.guidance: Flux-dev is guidance-distilled (options.guidanceScale sets its guidance embedding)"));
    await expect(pipe.generate({ conditions: { ...conditions(), guidance: Tensor.from(new Float32Array(batch).fill(5), [batch]) }, guidanceScale: 4, ...size })).rejects.toThrow(new RangeError(
      "Expected options.guidanceScale or options.conditions.guidance, not both (both set Flux's guidance embedding)"));
  });
});

describe.skipIf(!has("pixart") || !existsSync(path.join(REPO_ROOT, "dist/cli.js")))("ditto generate --negative-embeddings FILE --cfg G", () => {
  it("writes the guided latents of the API run; guidance without negatives is an error naming the option", async () => {
    const io = readSafetensors(path.join(GOLDEN, "pixart", "io.safetensors")).tensors;
    const hidden = io.get("encoder_hidden_states")!;
    const embeddings = path.join(tmp, "prompt.safetensors"), negativeFile = path.join(tmp, "negative.safetensors");
    writeSafetensors(embeddings, { encoderHiddenStates: { dtype: "F32", shape: hidden.shape, data: toFloat32Array(hidden) } });
    const negative = randomLike(Tensor.from(toFloat32Array(hidden), hidden.shape), 7);
    writeSafetensors(negativeFile, { encoderHiddenStates: { dtype: "F32", shape: negative.shape, data: negative.toFloat32Array() } });
    const out = path.join(tmp, "cfg-latents.safetensors");
    const cli = path.join(REPO_ROOT, "dist/cli.js");
    const common = ["generate", "--model", path.join(GOLDEN, "pixart"), "--embeddings", embeddings, "--height", "64", "--width", "64", "--steps", "2", "--threads", "2"];
    const run = spawnSync(process.execPath, [cli, ...common, "--negative-embeddings", negativeFile, "--cfg", "4.5", "--out", out, "--json"], { encoding: "utf8", timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split("\n").at(-1)!)).toEqual({ family: "pixart", latents: [hidden.shape[0], 4, 8, 8], files: [out] });
    using pipe = await LatentPipeline.load(path.join(GOLDEN, "pixart"), { threads: 2 });
    const api = await pipe.generate({ conditions: { encoderHiddenStates: Tensor.from(toFloat32Array(hidden), hidden.shape) }, negative: { encoderHiddenStates: negative }, guidanceScale: 4.5, steps: 2, height: 64, width: 64 });
    expect(toFloat32Array(readSafetensors(out).tensors.get("latents")!)).toEqual(api.latents.toFloat32Array());
    const missing = spawnSync(process.execPath, [cli, ...common, "--cfg", "4.5", "--out", path.join(tmp, "x.safetensors")], { encoding: "utf8", timeout: 120_000 });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("Expected an object of negative condition tensors (encoderHiddenStates: the unconditional branch, e.g. the empty prompt's embeddings) for options.negative with options.guidanceScale but received undefined");
    const unreadable = spawnSync(process.execPath, [cli, ...common, "--cfg", "4.5", "--negative-embeddings", path.join(tmp, "none.safetensors")], { encoding: "utf8", timeout: 120_000 });
    expect(unreadable.status).toBe(64);
    expect(unreadable.stderr).toContain("--negative-embeddings:");
  });
});

// Every cache policy end to end on the vendored glyph DiT (examples/models/glyphs), a short run (12 steps, CFG 4,
// two samples): each one reuses blocks, saves MACs and changes the images (none is bit-identical to the uncached
// run) while staying close to them; `none` is bit-identical to no cache; ditto calibrate's profile drives
// teaCache / magCache; a custom loop with model.session({ cache, steps }) equals Pipeline.generate({ cache });
// the budget bounds cacheBytes; an aborted or disposed generation leaves no stored bytes.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { calibrate } from "../../src/cache/calibrate.js";
import { CachePolicy } from "../../src/cache/policy.js";
import { Pipeline, type GenerateResult } from "../../src/pipeline/index.js";
import { Tensor } from "../../src/tensor.js";

const MODEL = new URL("../../examples/models/glyphs", import.meta.url).pathname;
const STEPS = 12;
const ROW_BYTES = 64 * 192 * 4; // one stored residual of the glyph DiT
const dir = mkdtempSync(path.join(tmpdir(), "ditto-cache-"));
const profile = path.join(dir, "profile.json");

let pipe: Pipeline;
let plain: GenerateResult;
const run = (cache?: unknown, extra: object = {}) =>
  pipe.generate({ classLabels: [3, 7], seed: [10000, 10001], steps: STEPS, guidanceScale: 4, ...(cache ? { cache: cache as string } : {}), ...extra });

function psnr(a: Tensor, b: Tensor): number {
  const x = a.toFloat32Array(), y = b.toFloat32Array();
  let se = 0;
  for (let i = 0; i < x.length; i++) se += (x[i]! - y[i]!) ** 2;
  return 10 * Math.log10(4 / (se / x.length)); // latents in [-1, 1]: peak-to-peak 2
}

beforeAll(async () => {
  pipe = await Pipeline.load({ kind: "class-conditional", model: MODEL, threads: 2 });
  plain = await run();
  const fitted = await calibrate({ pipe, labels: Int32Array.of(1, 5, 8), seeds: [20000, 20001, 20002], steps: STEPS, guidanceScale: 4, batchSize: 3, source: { test: true } });
  writeFileSync(profile, JSON.stringify(fitted));
});
afterAll(async () => {
  await pipe?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe("cache policies end to end", () => {
  it("none is bit-identical to no cache option", async () => {
    const none = await run("none");
    expect(Array.from(none.latents.toFloat32Array())).toEqual(Array.from(plain.latents.toFloat32Array()));
    expect(none.stats).toMatchObject({ blocksReused: 0, cacheBytes: 0, macs: plain.stats.macs });
  });

  it("ditto calibrate fits a profile from the executor's signals", async () => {
    const { readCacheProfile } = await import("../../src/cache/profile.js");
    const p = readCacheProfile(profile);
    expect(p.teaCache.coefficients).toHaveLength(5);
    expect(p.magCache.ratios).toHaveLength(STEPS);
    expect(p.magCache.ratios[0]).toBe(1);
    expect(p.magCache.ratios.slice(1).every((r) => r > 0.5 && r < 2)).toBe(true);
  });

  const policies = [
    "fora:interval=2", "deltaDit:interval=2", "taylorSeer:interval=2,warmupSteps=2", "firstBlock:threshold=0.3",
    "dbCache:threshold=0.3,warmupSteps=2", "teaCache:threshold=0.5,coefficients=1+0", "easyCache:threshold=0.5,warmupSteps=2",
    "magCache:threshold=0.5,maxSkipSteps=2", "auto", "auto:tolerance=0.2,maxGap=3",
  ];
  for (const spec of policies) {
    it(`${spec} reuses blocks, saves MACs and stays close to the uncached images`, async () => {
      const cache = spec.startsWith("magCache") ? `${spec},profile=${profile}` : spec;
      const steps: { computedBlocks: number; reusedBlocks: number }[] = [];
      const out = await run(cache, { onStep: (e: { computedBlocks: number; reusedBlocks: number }) => steps.push(e) });
      const s = out.stats;
      expect(s.blocksReused).toBeGreaterThan(0);
      expect(s.blocksComputed + s.blocksReused).toBeLessThanOrEqual(2 * 2 * STEPS * 6);
      expect(s.macs).toBeLessThan(s.macsUncached);
      expect(s.macsUncached).toBe(plain.stats.macsUncached);
      expect(s.cacheBytes).toBeGreaterThan(0);
      expect(steps.reduce((a, e) => a + e.reusedBlocks, 0)).toBe(s.blocksReused);
      expect(steps.reduce((a, e) => a + e.computedBlocks, 0)).toBe(s.blocksComputed);
      const db = psnr(out.latents, plain.latents);
      expect(db).toBeLessThan(200); // not bit-identical
      expect(db).toBeGreaterThan(14);
      out.latents.dispose();
    });
  }

  it("teaCache reads its polynomial from a profile", async () => {
    const out = await run(`teaCache:threshold=0.5,profile=${profile}`);
    expect(out.stats.blocksComputed).toBeGreaterThan(0);
    expect(out.stats.macs).toBeLessThanOrEqual(out.stats.macsUncached * 1.01);
  });

  it("a custom loop with model.session({ cache, steps }) caches as the pipeline does", async () => {
    const model = pipe.model;
    const policy = CachePolicy.auto({ tolerance: 0.1 });
    const reference = await pipe.generate({ classLabels: [4], seed: [10003], steps: STEPS, guidanceScale: 1, cache: policy });
    const { batchNoiseTensor } = await import("../../src/noise/index.js");
    let x = await batchNoiseTensor("philox", [10003], [3, 32, 32]);
    const session = model.session({ cache: policy, steps: STEPS });
    let reused = 0;
    for (let i = 0; i < STEPS; i++) {
      const sigma = 1 - i / STEPS, next = 1 - (i + 1) / STEPS;
      const t = Math.fround(1000 * sigma);
      const r = await session.step(x, [t], {
        branches: [{ key: "cond", labels: [4] }],
        epilogue: { branchWeights: [1], a: 1, c: Math.fround(next - sigma) },
        returnBranchOutputs: false,
      });
      reused += r.blocksReused;
      r.guided?.dispose();
      x.dispose();
      x = r.next!;
    }
    session.dispose();
    expect(reused).toBe(reference.stats.blocksReused);
    expect(psnr(x, reference.latents)).toBeGreaterThan(60);
    expect(() => model.session({ cache: "auto" })).toThrow("Expected positive integer (the sampling steps the cache plans for) for options.steps but received undefined");
  });

  it("cacheBudgetBytes bounds the stored bytes; over it blocks compute instead", async () => {
    const free = await run("auto");
    const capped = await run("auto", { cacheBudgetBytes: 3 * ROW_BYTES });
    expect(free.stats.cacheBytes).toBeGreaterThan(3 * ROW_BYTES);
    expect(capped.stats.cacheBytes).toBeLessThanOrEqual(3 * ROW_BYTES);
    expect(capped.stats.blocksComputed).toBeGreaterThan(free.stats.blocksComputed);
  });

  it("an aborted or disposed cached generation leaves no stored bytes", async () => {
    const model = pipe.model;
    const session = model.session({ cache: "fora:interval=2", steps: 4 });
    const x = Tensor.zeros([1, 3, 32, 32]);
    await session.step(x, [1000], { branches: [{ labels: [1] }] });
    expect(session.slotBytes).toBe(ROW_BYTES);
    const controller = new AbortController();
    controller.abort();
    // aborted before it starts: rejected, nothing changes (an abort inside a step ends the state: test_executor)
    await expect(session.step(x, [900], { branches: [{ labels: [1] }], signal: controller.signal })).rejects.toThrow("aborted");
    expect(session.slotBytes).toBe(ROW_BYTES);
    const r = await session.step(x, [800], { branches: [{ labels: [1] }] });
    expect(r.blocksReused).toBe(6); // step 1 of fora:interval=2 reuses
    expect(session.slotBytes).toBe(ROW_BYTES);
    await session[Symbol.asyncDispose]();
    expect(session.slotBytes).toBe(0);
    const aborted = new AbortController();
    await expect(run("auto", { signal: aborted.signal, onStep: (e: { step: number }) => { if (e.step === 3) aborted.abort(); } })).rejects.toThrow();
    const after = await run("auto");
    expect(after.stats.cacheBytes).toBeGreaterThan(0); // the pipeline is usable after an abort
    x.dispose();
  });
});

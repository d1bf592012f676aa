// model.session() through the addon on the vendored glyph DiT (examples/models/glyphs): a step's branches equal
// the same forwards, prefix-shared branches equal separate execution bit for bit, per-sample plans equal each sample
// alone, MACs count dit.json's total and skipped blocks as saved, the native CFG epilogue (plain and anchored at the
// unconditional branch, bit for bit), stored slots freed by
// end(), an abort and dispose (slotBytes back to 0), model.device, and exact errors for bad requests.
import { describe, expect, it } from "vitest";

import { DittoError } from "../../src/errors.js";
import { loadModel } from "../../src/model.js";
import { Tensor } from "../../src/tensor.js";

const MODEL = "examples/models/glyphs";
const TOTAL = 181972992; // dit.json macs_per_forward.total
const DEPTH = 6;

function noise(batch: number, seed = 7): Tensor {
  let s = seed;
  const data = Float32Array.from({ length: batch * 3 * 32 * 32 }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
  return Tensor.from(data, [batch, 3, 32, 32]);
}

const compute = () => Array.from({ length: DEPTH }, () => ({ kind: "compute" as const }));

describe("model.session()", () => {
  it("runs branches, shares prefixes bit for bit, counts MACs and frees slots", async () => {
    await using model = await loadModel(MODEL, { threads: 2 });
    expect(model.device).toBe("cpu");
    const macs = model.macsPerSample();
    expect(macs.total).toBe(TOTAL);
    const x = noise(2);
    const t = [900, 100];
    const labels = [3, 7];
    const nulls = [10, 10];
    const session = model.session();

    const weak = compute().map((a, i) => (i === 3 ? { kind: "skip" as const } : a));
    const shared = await session.step(x, t, { branches: [{ labels }, { labels: nulls }, { labels, actions: weak }] });
    const cond = await model.forward(x, t, labels);
    expect(shared.branchOutputs[0]!.toFloat32Array()).toEqual(cond.toFloat32Array());
    const weakAlone = await model.forwardDetailed(x, t, labels, { skipBlocks: [3] });
    // Same rows in a different batch composition: the batch-invariance tolerance of test_dit_golden.
    expect(maxAbsDiff(shared.branchOutputs[2]!.toFloat32Array(), weakAlone.out.toFloat32Array())).toBeLessThanOrEqual(1e-6);
    // Bit for bit: the same branches without prefix sharing.
    const separate = await session.step(x, t, { branches: [{ labels }, { labels: nulls }, { labels, actions: weak }], sharePrefixes: false });
    for (let b = 0; b < 3; b++) expect(shared.branchOutputs[b]!.toFloat32Array()).toEqual(separate.branchOutputs[b]!.toFloat32Array());
    expect(separate.macs).toBe(3 * 2 * TOTAL - 2 * perBlockOf(model.macsPerSample().blocks));
    expect(shared.macsUncached).toBe(3 * 2 * TOTAL);
    const perBlock = perBlockOf(macs.blocks);
    // The weak branch shares blocks 0..2 with the conditional one and skips block 3.
    expect(shared.macs).toBe(3 * 2 * TOTAL - 2 * (3 * perBlock) - 2 * perBlock);

    // Per-sample plans in one batch equal each sample alone.
    const skip2 = compute().map((a, i) => (i === 2 ? { kind: "skip" as const } : a));
    const perSample = await session.step(x, t, { branches: [{ labels, actions: [compute(), skip2] }] });
    const second = await model.forwardDetailed(noiseSlice(x, 1), [t[1]!], [labels[1]!], { skipBlocks: [2] });
    const out = perSample.branchOutputs[0]!.toFloat32Array();
    expect(maxAbsDiff(out.subarray(3 * 32 * 32), second.out.toFloat32Array())).toBeLessThanOrEqual(1e-6);

    // CFG epilogue: guided = s·cond + (1 − s)·uncond, next = a·x + c·guided, computed in the same job.
    const s = 4;
    const step = await session.step(x, t, {
      branches: [{ labels }, { labels: nulls }],
      epilogue: { branchWeights: [s, 1 - s], a: 0.5, c: 2 },
    });
    const [c0, u0] = [step.branchOutputs[0]!.toFloat32Array(), step.branchOutputs[1]!.toFloat32Array()];
    const guided = step.guided!.toFloat32Array();
    const next = step.next!.toFloat32Array();
    const xs = x.toFloat32Array();
    for (let i = 0; i < guided.length; i += 97) {
      const g = Math.fround(Math.fround(s * c0[i]!) + Math.fround((1 - s) * u0[i]!));
      expect(guided[i]).toBe(g);
      expect(next[i]).toBe(Math.fround(Math.fround(0.5 * xs[i]!) + Math.fround(2 * g)));
    }

    // Anchored epilogue: guided = uncond + (cond − uncond)·s, each op rounded to float32 (combineBranches' order,
    // which the pipeline's CFG keeps); the plain weighted sum above rounds differently somewhere.
    const anchored = await session.step(x, t, {
      branches: [{ labels }, { labels: nulls }],
      epilogue: { branchWeights: [s, 1 - s], anchor: 1, a: 1, c: -0.05, extras: [x], extraWeights: [0.25] },
    });
    const anchoredGuided = anchored.guided!.toFloat32Array();
    const anchoredNext = anchored.next!.toFloat32Array();
    let roundsDifferently = false;
    for (let i = 0; i < anchoredGuided.length; i++) {
      const g = Math.fround(u0[i]! + Math.fround(Math.fround(c0[i]! - u0[i]!) * s));
      expect(anchoredGuided[i]).toBe(g);
      expect(anchoredNext[i]).toBe(Math.fround(Math.fround(xs[i]! + Math.fround(Math.fround(-0.05) * g)) + Math.fround(0.25 * xs[i]!)));
      roundsDifferently ||= g !== guided[i];
    }
    expect(roundsDifferently).toBe(true);

    // Slots: store, then end() frees them.
    const store = compute().map((a, i) => (i === 1 ? { ...a, storeEnd: 5 } : a));
    await session.step(x, t, { branches: [{ key: "cond", labels, actions: store }] });
    expect(session.slotBytes).toBe(2 * 64 * 192 * 4);
    const reuse = compute().map((a, i) =>
      i === 1 ? { kind: "reuse" as const, spanEnd: 5 } : i > 1 && i < 5 ? { kind: "skip" as const } : a,
    );
    const reused = await session.step(x, t, { branches: [{ key: "cond", labels, actions: reuse }] });
    expect(reused.macs).toBeLessThan(2 * TOTAL - 2 * 4 * perBlock + 2 * 2 * 64 * 192 + 1);
    await session.end();
    expect(session.slotBytes).toBe(0);

    // An aborted step frees them too.
    await session.step(x, t, { branches: [{ key: "cond", labels, actions: store }] });
    expect(session.slotBytes).toBeGreaterThan(0);
    // The abort races a one-sample step on the job thread: on a loaded machine the step can finish before the flag is
    // set (seen once in CI). Such a step stored nothing new, so try again (its outputs freed) until one is aborted.
    let error: unknown;
    for (let attempt = 0; attempt < 20 && !(error instanceof Error); attempt++) {
      const controller = new AbortController();
      const pending = session.step(x, t, { branches: [{ labels }], signal: controller.signal });
      controller.abort();
      error = await pending.then((r) => { for (const o of r.branchOutputs) o.dispose(); r.guided?.dispose(); return undefined; }, (e: unknown) => e);
    }
    expect(error).toBeInstanceOf(DittoError);
    expect((error as DittoError).code).toBe("ERR_ABORTED");
    expect(session.slotBytes).toBe(0);

    // dispose (async) frees them after the queued steps.
    await session.step(x, t, { branches: [{ key: "cond", labels, actions: store }] });
    const other = model.session();
    await other.step(x, t, { branches: [{ labels, actions: store }] });
    expect(other.slotBytes).toBe(2 * 64 * 192 * 4);
    const native = other as unknown as { slotBytes: number };
    await other[Symbol.asyncDispose]();
    expect(native.slotBytes).toBe(0);
    expect(other.disposed).toBe(true);
    await expect(other.step(x, t, { branches: [{ labels }] })).rejects.toMatchObject({ code: "ERR_DISPOSED" });
    session.dispose();
  });

  it("rejects bad requests with exact messages", async () => {
    await using model = await loadModel(MODEL, { threads: 2 });
    const session = model.session();
    const x = noise(1);
    await expect(session.step(x, [1], { branches: [] })).rejects.toThrow(
      "Expected non-empty array for request.branches but received []",
    );
    await expect(session.step(x, [1], { branches: [{ labels: [11] }] })).rejects.toThrow(
      "Expected integer between 0 and 10 (10 = unconditional) for request.branches[0].labels[0] but received 11",
    );
    await expect(session.step(x, [1], { branches: [{ labels: [1], actions: compute().slice(1) }] })).rejects.toThrow(
      "Expected 6 block actions (one per block) for request.branches[0].actions but received 5",
    );
    const badReuse = compute().map((a, i) => (i === 4 ? { kind: "reuse" as const, spanEnd: 2 } : a));
    await expect(session.step(x, [1], { branches: [{ labels: [1], actions: badReuse }] })).rejects.toThrow(
      "Expected integer between 5 and 6 for request.branches[0].actions[4].spanEnd but received 2",
    );
    const reuseMissing = compute().map((a, i) => (i === 5 ? { kind: "reuse" as const, spanEnd: 6 } : a));
    await expect(session.step(x, [1], { branches: [{ labels: [1], actions: reuseMissing }] })).rejects.toMatchObject({
      code: "ERR_INVALID_ARGUMENT",
      message: "Branch 0 sample 0 block 5: no residual stored for blocks [5, 6)",
    });
    await expect(
      session.step(x, [1], { branches: [{ labels: [1] }], epilogue: { branchWeights: [1], anchor: 1, a: 1, c: 1 } }),
    ).rejects.toThrow("Expected integer between 0 and 0 for request.epilogue.anchor but received 1");
    session.dispose();
  });

  it("rejects steps after the model is disposed", async () => {
    const model = await loadModel(MODEL, { threads: 2 });
    const session = model.session();
    model.dispose();
    await expect(session.step(noise(1), [1], { branches: [{ labels: [1] }] })).rejects.toMatchObject({
      code: "ERR_DISPOSED",
      message: "Model has been disposed",
    });
    session.dispose();
  });
});

function perBlockOf(blocks: number): number {
  return blocks / DEPTH;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function noiseSlice(x: Tensor, index: number): Tensor {
  return x.slice(index, index + 1);
}

// Native memory reported to V8 (issue 22, defect 6): every tensor's storage and every model's weights + workspace
// move V8's external-memory counter (napi_adjust_external_memory), by exactly their bytes, and back when freed, so
// the garbage collector feels their weight: tensors dropped without dispose() are reclaimed while a loop runs.
// The counter is read with the addon's externalMemory(). V8 counts JS ArrayBuffers there too (a Buffer made by an
// fs call, one freed by a GC), so amounts are compared within 64 KiB — far below any tensor or model here.
import { spawnSync } from "node:child_process";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { loadModel } from "../../src/model.js";
import { addonPath, native } from "../../src/native.js";
import { Tensor } from "../../src/tensor.js";
import { REPO_ROOT } from "../shared-paths.js";

const MODEL_DIR = path.join(REPO_ROOT, "examples/models/glyphs");
const MiB = 2 ** 20;
const external = () => native().externalMemory();
const SLACK = 64 * 1024;

function expectBytes(actual: number, expected: number): void {
  expect(Math.abs(actual - expected), `${actual} bytes where ${expected} were expected`).toBeLessThan(SLACK);
}

describe("external memory", () => {
  it("counts each tensor's bytes once, views included, until the last handle on the storage goes", () => {
    const base = external();
    const tensors = Array.from({ length: 8 }, () => Tensor.zeros([256, 1024]));
    expectBytes(external() - base, 8 * MiB);
    const view = tensors[0]!.reshape([1024, 256]);  // same storage: no new bytes
    expectBytes(external() - base, 8 * MiB);
    tensors[0]!.dispose();  // the view still holds the storage
    expectBytes(external() - base, 8 * MiB);
    view.dispose();
    expectBytes(external() - base, 7 * MiB);
    const sum = tensors[1]!.add(tensors[2]!);
    expectBytes(external() - base, 8 * MiB);
    for (const t of [...tensors, sum]) t.dispose();
    expectBytes(external(), base);
  });

  it("counts a model's weights at load, its workspace after a forward, and nothing after dispose", async () => {
    const x = Tensor.zeros([16, 3, 32, 32]);
    const t = new Float32Array(16).fill(500);
    const labels = new Int32Array(16).fill(3);
    const base = external();
    const model = await loadModel(MODEL_DIR, { threads: 1 });
    // What the model reports is exact; the counter moved by it (other tests' tensors may be collected meanwhile,
    // so the counter is compared with a looser bound than SLACK).
    const weights = model.memoryBytes;
    // dit.safetensors is float32: the packed f32 weights hold at least its tensor bytes (16.7 MB file).
    expect(weights).toBeGreaterThan(16 * 10 ** 6);
    expect(Math.abs(external() - base - weights)).toBeLessThan(2 * MiB);
    const out = await model.forward(x, t, labels);
    // Workspace of batch 16: at least 4 activations of [16·64 tokens, 192] float32.
    expect(model.memoryBytes - weights).toBeGreaterThanOrEqual(4 * 16 * 64 * 192 * 4);
    out.dispose();
    model.dispose();
    expect(Math.abs(external() - base)).toBeLessThan(2 * MiB);  // the ~17 MB of the model are gone
    x.dispose();
  });

  it("lets the garbage collector reclaim tensors that are never disposed (800 × 2 MiB in a loop that yields)", () => {
    const code = `
      const addon = require(${JSON.stringify(addonPath())});
      (async () => {
        const rss0 = process.memoryUsage().rss;
        let peak = 0;
        for (let i = 0; i < 800; i++) {
          addon.NativeTensor.zeros([512, 1024]);
          await new Promise((resolve) => setImmediate(resolve));
          peak = Math.max(peak, process.memoryUsage().rss - rss0);
        }
        console.log(JSON.stringify({ peakMiB: Math.round(peak / 2 ** 20) }));
      })();`;
    const child = spawnSync(process.execPath, ["-e", code], { encoding: "utf8", timeout: 60_000 });
    expect(child.status).toBe(0);
    const { peakMiB } = JSON.parse(child.stdout) as { peakMiB: number };
    // 1600 MiB are allocated in all; V8 collects once the reported external memory passes its limit (64 MiB steps).
    expect(peakMiB).toBeLessThan(400);
  });
});

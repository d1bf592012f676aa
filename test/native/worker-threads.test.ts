// The addon in worker_threads (issue 22, defect 1): a worker terminated while its model runs a forward must not
// take the process down (the model's job thread used to call a thread-safe function freed with the worker's
// environment), and models and tensors work in several workers at once, each environment with its own addon
// instance (class constructors, tensor-op thread pool), with results identical to the main thread's.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { Worker } from "node:worker_threads";

import { describe, expect, it } from "vitest";

import { loadModel } from "../../src/model.js";
import { addonPath } from "../../src/native.js";
import { Tensor } from "../../src/tensor.js";
import { REPO_ROOT } from "../shared-paths.js";

const MODEL_DIR = path.join(REPO_ROOT, "examples/models/glyphs");
const BATCH = 4;

function input(): Float32Array {
  let s = 11;
  return Float32Array.from({ length: BATCH * 3 * 32 * 32 }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

// Runs in each worker: a forward on the shared input, and rounds of element-wise ops large enough to use the
// tensor-op thread pool (which is per environment: two threads driving one pool corrupt each other's jobs),
// checked against float32 arithmetic in JS.
const WORKER_CODE = `
const { parentPort, workerData } = require("node:worker_threads");
const addon = require(workerData.addonPath);
(async () => {
  const model = await addon.loadModel(workerData.modelDir, { threads: 1 });
  const x = addon.NativeTensor.fromFloat32(workerData.x, [${BATCH}, 3, 32, 32]);
  const pending = model.forward(x, new Float32Array(workerData.t), new Int32Array(workerData.labels), {});
  const n = 300000;
  let mismatches = 0;
  for (let round = 0; round < 20; round++) {
    const a = Float32Array.from({ length: n }, (_, i) => ((i * 7 + round) % 101) / 10);
    const b = Float32Array.from({ length: n }, (_, i) => ((i * 13 + workerData.id) % 97) / 10);
    const sum = addon.NativeTensor.fromFloat32(a, [n]).binary(addon.NativeTensor.fromFloat32(b, [n]), "add").toFloat32Array();
    for (let i = 0; i < n; i++) if (sum[i] !== Math.fround(a[i] + b[i])) mismatches++;
  }
  const { out } = await pending;
  parentPort.postMessage({ out: out.toFloat32Array(), mismatches });
  model.dispose();
})().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));
`;

describe("worker_threads", () => {
  it("survives workers terminated mid-forward (20 iterations in a child process)", () => {
    const child = spawnSync(
      process.execPath,
      [path.join(REPO_ROOT, "test/native/workers/terminate-mid-forward.cjs"), addonPath(), MODEL_DIR, "20"],
      { encoding: "utf8", timeout: 100_000 },
    );
    expect({ status: child.status, signal: child.signal, stderr: child.stderr }).toEqual({ status: 0, signal: null, stderr: "" });
    const report = JSON.parse(child.stdout.trim().split("\n").pop()!) as { iterations: number; mainShape: number[] };
    expect(report).toMatchObject({ iterations: 20, mainShape: [1, 3, 32, 32] });
  });

  it("runs models and tensor ops in several workers at once, matching the main thread", async () => {
    const x = input();
    const t = [999, 500, 20, 0];
    const labels = [0, 3, 7, 10];
    const workers = [1, 2, 3].map(
      (id) => new Worker(WORKER_CODE, { eval: true, workerData: { addonPath: addonPath(), modelDir: MODEL_DIR, x, t, labels, id } }),
    );
    const results = workers.map(
      (w) =>
        new Promise<{ out?: Float32Array; mismatches?: number; error?: string }>((resolve, reject) => {
          w.once("message", resolve);
          w.once("error", reject);
        }),
    );
    // The main thread keeps its own model and tensor ops busy meanwhile.
    const model = await loadModel(MODEL_DIR, { threads: 1 });
    const expected = (await model.forward(Tensor.from(x, [BATCH, 3, 32, 32]), t, labels)).toFloat32Array();
    const ones = Tensor.from(new Float32Array(300000).fill(1), [300000]);
    expect(ones.add(ones).toFloat32Array().every((v) => v === 2)).toBe(true);
    model.dispose();
    const got = await Promise.all(results);
    await Promise.all(workers.map((w) => w.terminate()));
    for (const r of got) {
      expect(r.error).toBeUndefined();
      expect(r.mismatches).toBe(0);
      expect(r.out).toEqual(expected);
    }
  });
});

// The `device` option of loadModel and Pipeline.load: malformed specs are TypeErrors, an explicit CUDA request that
// cannot be honoured rejects with ERR_CUDA saying why, 'auto' and 'cpu' load on the CPU (with 'auto' saying why);
// Pipeline.device reports the device its model runs on (data, not a literal).
import { describe, expect, it } from "vitest";

import { DittoError, Model, Pipeline, loadModel } from "../../src/index.js";
import { native } from "../../src/native.js";

const MODEL = new URL("../../examples/models/glyphs", import.meta.url).pathname;
const expectCuda = process.env.DITTO_TEST_EXPECT_CUDA === "1";
if (!expectCuda) process.env.DITTO_CUDA_LIB = "/nonexistent-ditto-dir/libditto_cuda.so";

describe("device option", () => {
  it("rejects a malformed device with a TypeError naming the accepted values", async () => {
    await expect(loadModel(MODEL, { device: "gpu" as never })).rejects.toThrow(
      new TypeError(`Expected 'auto', 'cpu', 'cuda' or 'cuda:N' for options.device but received "gpu"`),
    );
    await expect(Pipeline.load({ model: MODEL, device: "cuda:x" as never })).rejects.toBeInstanceOf(TypeError);
  });

  it.skipIf(expectCuda)("explicit 'cuda' / 'cuda:1' rejects with ERR_CUDA and the reason", async () => {
    for (const device of ["cuda", "cuda:1"] as const) {
      const err = await loadModel(MODEL, { device }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DittoError);
      expect((err as DittoError).code).toBe("ERR_CUDA");
      expect((err as Error).message).toContain("CUDA backend not built or not found");
    }
    const err = await Pipeline.load({ model: MODEL, device: "cuda" }).catch((e: unknown) => e);
    expect((err as DittoError).code).toBe("ERR_CUDA");
  });

  it("'auto' and 'cpu' run on the CPU; 'auto' says why", async () => {
    const auto = await loadModel(MODEL, { device: "auto", threads: 1 });
    expect(auto.device).toBe("cpu");
    if (!expectCuda) expect(auto.deviceReason).toContain("CUDA backend not built or not found");
    await auto.dispose();
    const cpu = await loadModel(MODEL, { device: "cpu", threads: 1 });
    expect(cpu.device).toBe("cpu");
    expect(cpu.deviceReason).toBe("");
    await cpu.dispose();
  });

  it("Pipeline.device is the device its model reports", async () => {
    await using viaPath = await Pipeline.load({ kind: "class-conditional", model: MODEL, device: "cpu", threads: 1 });
    expect(viaPath.device).toBe("cpu");
    expect(viaPath.device).toBe(viaPath.model.device);
    // A Model the loader placed elsewhere (as the native side will once CUDA is wired): the pipeline follows it.
    const real = await native().loadModel(MODEL, { threads: 1 });
    // A handle the engine loaded on another device: Model reports what the engine says, not what was asked.
    const onCuda = new Proxy(real, {
      get: (target, key) => (key === "device" ? () => "cuda:0" : typeof Reflect.get(target, key) === "function" ? Reflect.get(target, key).bind(target) : Reflect.get(target, key)),
    });
    const elsewhere = new Model(onCuda, MODEL, "f32");
    await using given = await Pipeline.load({ kind: "class-conditional", model: elsewhere });
    expect(elsewhere.device).toBe("cuda:0");
    expect(given.device).toBe("cuda:0");
    elsewhere.dispose();
  });
});

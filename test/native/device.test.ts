// Device choice through the addon: 'cpu', 'auto' falling back to the CPU with a reason, and an explicit
// 'cuda' / 'cuda:N' throwing DittoError ERR_CUDA with a message saying why. The CUDA backend path is pinned
// to a file that cannot exist (before the addon first looks for it), so the reason is deterministic; with
// DITTO_TEST_EXPECT_CUDA=1 (a GPU machine) the GPU must be chosen instead.
import { describe, expect, it } from "vitest";

import { DittoError } from "../../src/errors.js";
import { callNative, native } from "../../src/native.js";

const expectCuda = process.env.DITTO_TEST_EXPECT_CUDA === "1";
const missing = "/nonexistent-ditto-dir/libditto_cuda.so";
if (!expectCuda) process.env.DITTO_CUDA_LIB = missing;

interface DeviceProbe {
  device: string;
  kind: "cpu" | "cuda";
  index: number;
  description: string;
  reason: string;
}
const addon = native() as unknown as {
  probeDevice(spec: string): DeviceProbe;
  describeDevices(): string;
};
const probe = (spec: string) => callNative(() => addon.probeDevice(spec));

describe("device choice", () => {
  it("'cpu' is always available", () => {
    const cpu = probe("cpu");
    expect(cpu).toMatchObject({ device: "cpu", kind: "cpu", index: 0, reason: "requested" });
    expect(cpu.description.length).toBeGreaterThan(0);
  });

  it("rejects malformed specs with ERR_INVALID_ARGUMENT", () => {
    for (const bad of ["gpu", "cuda:", "cuda:x", "cuda:-1", "CUDA"]) {
      let caught: unknown;
      try {
        probe(bad);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(DittoError);
      expect((caught as DittoError).code).toBe("ERR_INVALID_ARGUMENT");
      expect((caught as Error).message).toBe(
        `Expected 'auto', 'cpu', 'cuda' or 'cuda:N' for device but received '${bad}'`,
      );
    }
  });

  it.skipIf(expectCuda)("explicit 'cuda' fails with ERR_CUDA saying why; 'auto' falls back to the CPU", () => {
    for (const spec of ["cuda", "cuda:0", "cuda:2"]) {
      let caught: unknown;
      try {
        probe(spec);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(DittoError);
      expect((caught as DittoError).code).toBe("ERR_CUDA");
      expect((caught as Error).message).toContain("CUDA backend not built or not found");
      expect((caught as Error).message).toContain(missing);
    }
    const auto = probe("auto");
    expect(auto.device).toBe("cpu");
    expect(auto.kind).toBe("cpu");
    expect(auto.reason).toContain("auto: CUDA backend not built or not found");
    expect(addon.describeDevices()).toContain("cuda: unavailable: CUDA backend not built or not found");
  });

  it.skipIf(!expectCuda)("'auto' and 'cuda' pick the GPU when one is usable", () => {
    expect(probe("auto")).toMatchObject({ device: "cuda:0", kind: "cuda" });
    expect(probe("cuda").description).toMatch(/sm_\d+/);
  });
});

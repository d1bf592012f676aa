// The real CUDA backend (build-cuda/libditto_cuda.so, built by scripts/build-cuda.sh: .ci/run does it whenever nvcc
// is present) on a machine without a GPU: it loads and reports ABI v2, but an explicit 'cuda' — probing, or
// loading a model — is ERR_CUDA with the CUDA runtime's reason, and 'auto' stays on the CPU recording it. Skipped
// where the backend was not built, and on a GPU machine (DITTO_TEST_EXPECT_CUDA=1, where 'cuda' must work instead).
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";

import { chooseDevice } from "../../src/device.js";
import { DittoError } from "../../src/errors.js";
import { loadModel } from "../../src/model.js";
import { callNative, native } from "../../src/native.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const REAL = `${ROOT}build-cuda/libditto_cuda.so`;
const expectCuda = process.env.DITTO_TEST_EXPECT_CUDA === "1";
process.env.DITTO_CUDA_LIB = REAL;
delete process.env.DITTO_CUDA_EMULATED;
const REASON = /^CUDA is unavailable: (no usable CUDA driver|no CUDA device) \(cudaGetDeviceCount: cudaError\w+, .+\)$/;

describe.skipIf(!existsSync(REAL) || expectCuda)("the real CUDA backend without a GPU", () => {
  it("loads as ABI v2; 'cuda' is ERR_CUDA with the runtime's reason, 'auto' the CPU", async () => {
    expect(callNative(() => native().describeDevices())).toMatch(/cuda backend: CUDA \d+\.\d+, archs .*, ABI v2\n/);
    // The GEMM dispatch line: cuBLASLt when libcublasLt loads here, else WMMA with the reason (docs/cuda.md).
    expect(callNative(() => native().describeDevices())).toMatch(/, gemm_bf16: WMMA \(default; DITTO_CUDA_GEMM=auto takes cuBLASLt when loaded: (cuBLASLt \S+, version \d+|cuBLASLt not (loaded|compiled in).*)\), ABI v2\n/);
    let caught: unknown;
    try {
      chooseDevice("cuda");
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(DittoError);
    expect((caught as DittoError).code).toBe("ERR_CUDA");
    expect((caught as DittoError).message).toMatch(REASON);
    const auto = chooseDevice("auto");
    expect(auto.device).toBe("cpu");
    expect(auto.reason).toBe(`auto: ${(caught as DittoError).message}`);
    await expect(loadModel(`${ROOT}examples/models/glyphs`, { device: "cuda" })).rejects.toMatchObject({
      code: "ERR_CUDA",
      message: expect.stringMatching(REASON),
    });
  });
});

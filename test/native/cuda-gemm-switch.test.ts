// The bf16 GEMM switch of the real CUDA backend (build-cuda/libditto_cuda.so from scripts/build-cuda.sh; docs/cuda.md
// "bf16 GEMM dispatch"): DITTO_CUDA_GEMM=wmma forces the WMMA kernel and the build info `ditto info` prints says so,
// with or without cuBLASLt on the machine. Skipped where the backend was not built.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";

import { callNative, native } from "../../src/native.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const REAL = `${ROOT}build-cuda/libditto_cuda.so`;
process.env.DITTO_CUDA_LIB = REAL;
process.env.DITTO_CUDA_GEMM = "wmma";
delete process.env.DITTO_CUDA_EMULATED;

describe.skipIf(!existsSync(REAL))("the CUDA backend's GEMM switch", () => {
  it("reports WMMA forced by DITTO_CUDA_GEMM=wmma in the build info", () => {
    expect(callNative(() => native().describeDevices())).toMatch(
      /cuda backend: CUDA \d+\.\d+, archs .*, gemm_bf16: WMMA \(forced by DITTO_CUDA_GEMM=wmma\), ABI v2\n/,
    );
  });
});

// The host emulation of the CUDA backend never runs unless a test asks for it: pointed at by DITTO_CUDA_LIB but
// without DITTO_CUDA_EMULATED=1, the loader refuses it (ERR_CUDA saying so), an explicit 'cuda' model load
// rejects with that reason and 'auto' stays on the CPU recording it (docs/cuda.md, "Testing without a GPU").
import { describe, expect, it } from "vitest";

import { chooseDevice } from "../../src/device.js";
import { DittoError } from "../../src/errors.js";
import { loadModel } from "../../src/model.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const EMULATED = `${ROOT}build/libditto_cuda_emulated.so`;
process.env.DITTO_CUDA_LIB = EMULATED;
delete process.env.DITTO_CUDA_EMULATED;
const REFUSED = `CUDA backend ${EMULATED} is the host emulation (tests only); set DITTO_CUDA_EMULATED=1 to use it`;

describe("the emulated CUDA backend without its test switch", () => {
  it("explicit 'cuda' is ERR_CUDA with the reason; 'auto' falls back to the CPU", async () => {
    let caught: unknown;
    try {
      chooseDevice("cuda");
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(DittoError);
    expect((caught as DittoError).code).toBe("ERR_CUDA");
    expect((caught as DittoError).message).toBe(REFUSED);
    expect(chooseDevice("auto")).toEqual({ device: "cpu", reason: `auto: ${REFUSED}` });
    await expect(loadModel(`${ROOT}examples/models/glyphs`, { device: "cuda" })).rejects.toMatchObject({
      code: "ERR_CUDA",
      message: REFUSED,
    });
  });
});

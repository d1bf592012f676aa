// The dit-official DDIM trajectory (shared/golden/README.md "DDIM trajectory") end to end: DiT's respaced DDIM
// (η = 0, respacing from config call.ddim) driving model.forwardWithCfg, compared with ddim.timesteps / samples
// (per-step atol) / pred_xstart / out / out_cond / step0.model_out; then the whole case through verifyCase, which
// must report nothing under `skipped`. Also the respacing tables against the reference's float64 → float32 values.
// Skipped when ../shared is absent.
import { existsSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { readSafetensors, toFloat32Array, toNumberArray } from "../../src/io/safetensors.js";
import { DitDdimScheduler, spaceTimesteps } from "../../src/schedulers/index.js";
import { verifyCase } from "../../src/verify/index.js";
import { DDIM_OUTPUTS } from "../../src/verify/families/ditDdim.js";

const CASE = new URL("../../../shared/golden/dit-official/", import.meta.url).pathname;

describe.skipIf(!existsSync(`${CASE}io.safetensors`))("dit-official DDIM trajectory", () => {
  it("respacing keeps round-half-to-even steps and the float64 tables match the reference", () => {
    const io = readSafetensors(`${CASE}io.safetensors`);
    const kept = spaceTimesteps(1000, "25");
    expect(kept).toEqual(toNumberArray(io.tensors.get("ddim.timestep_map")!));
    expect(kept).toContain(166);
    expect(kept).toContain(832);
    const scheduler = new DitDdimScheduler();
    expect(scheduler.timesteps(25)).toEqual(toNumberArray(io.tensors.get("ddim.timesteps")!));
    const tables = scheduler.tables;
    for (const [name, values] of [
      ["ddim.alphas_cumprod", tables.alphasCumprod],
      ["ddim.alphas_cumprod_prev", tables.alphasCumprodPrev],
      ["ddim.sqrt_recip_alphas_cumprod", tables.sqrtRecipAlphasCumprod],
      ["ddim.sqrt_recipm1_alphas_cumprod", tables.sqrtRecipm1AlphasCumprod],
    ] as const) {
      expect(Array.from(values, Math.fround), name).toEqual(Array.from(toFloat32Array(io.tensors.get(name)!)));
    }
  });

  it("verify runs the trajectory end to end: every ddim.* output passes and nothing is skipped", async () => {
    const result = await verifyCase(CASE, { threads: 2 });
    expect(result.error).toBeUndefined();
    expect(result.skipped).toEqual([]);
    for (const name of DDIM_OUTPUTS) {
      const r = result.outputs?.[name];
      expect(r, name).toBeDefined();
      expect(r!.pass, `${name}: maxAbsErr ${r!.maxAbsErr} worstRatio ${r!.worstRatio}`).toBe(true);
    }
    expect(result.outputs!["ddim.timesteps"]!.maxAbsErr).toBe(0);
    expect(result.pass).toBe(true);
  });
});

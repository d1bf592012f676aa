// Pure-TS checks of the scheduler grids and scalar numerics (no native tensors): numpy-compatible linspace /
// arange / round-half-to-even, the spacing rules of diffusers, DiT's space_timesteps, Flux's mu, the UniPC
// corrector's 2×2 solve, and the factory's argument errors.
import { describe, expect, it } from "vitest";

import { multistepTimesteps, spacedTimesteps } from "../../src/schedulers/betaGrid.js";
import { respacedTables, spaceTimesteps } from "../../src/schedulers/ditDdim.js";
import { fluxMu, timeShiftF32, timeShiftF64 } from "../../src/schedulers/flowMatchEuler.js";
import { numpyArange, numpyLinspace, roundHalfEven, torchLinspaceF32, trainingAlphasCumprod } from "../../src/schedulers/numerics.js";
import { solveCorrectorRhos } from "../../src/schedulers/unipc.js";
import { createScheduler } from "../../src/schedulers/factory.js";

describe("scheduler numerics", () => {
  it("roundHalfEven is Python's round (std::round differs on .5)", () => {
    expect([0.5, 1.5, 2.5, 3.5, 166.5, 499.5, 832.5, -2.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([0, 2, 2, 4, 166, 500, 832, -2, 2, 3]);
    expect(roundHalfEven(-0.5)).toBe(0);
  });

  it("numpyLinspace ends exactly on stop and steps as i·step + start", () => {
    const v = numpyLinspace(0, 999, 11);
    expect(v[10]).toBe(999);
    expect(v[5]).toBe(499.5);
    expect(v[3]).toBe(3 * (999 / 10));
    expect(numpyLinspace(1, 0, 1)).toEqual([1]);
  });

  it("numpyArange uses delta = (start + step) − start", () => {
    expect(numpyArange(1000, 0, -1000 / 16)).toHaveLength(16);
    expect(numpyArange(1000, 0, -1000 / 3).length).toBe(3);
    expect(numpyArange(0, 1, 0.25)).toEqual([0, 0.25, 0.5, 0.75]);
  });

  it("diffusers spacings", () => {
    expect(spacedTimesteps("leading", 10, 1000, 1)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(spacedTimesteps("trailing", 10, 1000, 0)).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    expect(spacedTimesteps("trailing", 16, 1000, 0).slice(0, 4)).toEqual([999, 937, 874, 811]);
    expect(multistepTimesteps("linspace", 10, 1000, 0)).toEqual([999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
    expect(multistepTimesteps("leading", 4, 1000, 0)).toEqual([800, 600, 400, 200]);
  });

  it("torch float32 linspace endpoints and alphas_cumprod decrease", () => {
    const b = torchLinspaceF32(1e-4, 0.02, 1000);
    expect(b[0]).toBe(Math.fround(1e-4));
    expect(b[999]).toBe(Math.fround(0.02));
    const a = trainingAlphasCumprod({ numTrainTimesteps: 1000, betaStart: 1e-4, betaEnd: 0.02, betaSchedule: "linear" });
    expect(a[0]).toBe(Math.fround(1 - Math.fround(1e-4)));
    for (let i = 1; i < 1000; i++) expect(a[i]!).toBeLessThan(a[i - 1]!);
    expect(() => trainingAlphasCumprod({ numTrainTimesteps: 10, betaStart: 0, betaEnd: 1, betaSchedule: "cosine" as never })).toThrow(
      'Expected "linear" or "scaled_linear" for betaSchedule but received "cosine"',
    );
  });

  it("DiT space_timesteps: round half to even, sections and ddimN", () => {
    const kept = spaceTimesteps(1000, "25");
    expect(kept).toHaveLength(25);
    expect(kept.slice(0, 3)).toEqual([0, 42, 83]);
    expect(kept).toEqual(expect.arrayContaining([166, 500, 832, 999]));
    expect(kept).not.toContain(167);
    expect(kept).not.toContain(833);
    expect(spaceTimesteps(1000, "ddim25")).toEqual(Array.from({ length: 25 }, (_, i) => 40 * i));
    // Second section: 50 + round(0, 24.5, 49) with round(24.5) = 24 in Python.
    expect(spaceTimesteps(100, "2,3")).toEqual([0, 49, 50, 74, 99]);
    expect(() => spaceTimesteps(1000, "0")).toThrow(TypeError);
  });

  it("respaced tables: ᾱ_prev shifts ᾱ, sqrt tables are √(1/ᾱ) and √(1/ᾱ − 1)", () => {
    const tab = respacedTables({ numTrainTimesteps: 1000, betaStart: 1e-4, betaEnd: 0.02 }, spaceTimesteps(1000, 10));
    expect(tab.alphasCumprodPrev[0]).toBe(1);
    expect(tab.alphasCumprodPrev[3]).toBe(tab.alphasCumprod[2]);
    expect(tab.sqrtRecipAlphasCumprod[4]).toBe(Math.sqrt(1 / tab.alphasCumprod[4]!));
    expect(tab.sqrtRecipm1AlphasCumprod[4]).toBe(Math.sqrt(1 / tab.alphasCumprod[4]! - 1));
    // Respaced ᾱ equals the training ᾱ at the kept step up to float64 rounding.
    let acc = 1;
    for (let i = 0; i <= 999; i++) acc *= 1 - (1e-4 + (i * (0.02 - 1e-4)) / 999);
    expect(tab.alphasCumprod[9]! / acc).toBeCloseTo(1, 12);
  });

  it("Flux mu and time shift", () => {
    expect(fluxMu(1024)).toBeCloseTo(0.63, 12);
    expect(fluxMu(256)).toBeCloseTo(0.5, 12);
    expect(fluxMu(4096)).toBeCloseTo(1.15, 12);
    expect(timeShiftF64(0, 0.3)).toBeCloseTo(0.3, 15);
    expect(timeShiftF32(0.63, 1)).toBe(1);
    expect(Math.abs(timeShiftF32(0.63, 0.5) - timeShiftF64(0.63, 0.5))).toBeLessThan(1e-7);
  });

  it("UniPC corrector ρ solves R·ρ = b (float32 LU vs float64 Cramer)", () => {
    for (const [rk, hh] of [
      [-0.8, -0.3],
      [-1.7, -0.12],
      [-0.35, -0.9],
    ] as const) {
      const hPhi1 = Math.fround(Math.expm1(hh));
      const [r0, r1] = solveCorrectorRhos(rk, hh, hPhi1, hPhi1);
      const p1 = hPhi1 / hh - 1;
      const p2 = p1 / hh - 1 / 2;
      const b0 = p1 / hPhi1;
      const b1 = (p2 * 2) / hPhi1;
      const det = 1 - rk;
      expect(r0).toBeCloseTo((b0 - b1) / det, 5);
      expect(r1).toBeCloseTo((b1 - rk * b0) / det, 5);
    }
  });

  it("createScheduler names and argument errors", () => {
    for (const name of ["flow-euler", "euler", "ddim", "dpm++2m", "unipc", "dit-ddim"] as const) expect(createScheduler(name).name).toBe(name);
    expect(() => createScheduler("heun" as never)).toThrow(
      'Expected one of "flow-euler", "euler", "ddim", "dpm++2m", "unipc", "dit-ddim" for scheduler but received "heun"',
    );
    expect(() => createScheduler("ddim", { timestep_spacing: "karras" })).toThrow(
      'Expected one of "linspace", "leading", "trailing" for timestepSpacing but received "karras"',
    );
    expect(() => createScheduler("flow-euler", { shift: "3" })).toThrow('Expected finite number for shift but received "3"');
    expect(() => createScheduler("ddim").timesteps(0)).toThrow("Expected positive integer for numInferenceSteps but received 0");
    expect(() => createScheduler("flow-euler", { use_dynamic_shifting: true }).timesteps(4)).toThrow(
      "Expected finite number for mu (useDynamicShifting is on) but received undefined",
    );
  });
});

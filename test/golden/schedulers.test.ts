// Golden check of every scheduler setting in shared/golden/schedulers (index.json: every setting × step count):
// timesteps exact, sigmas / init_noise_sigma / alphas_cumprod / model_inputs / samples / out within the setting's
// tolerances, via the `schedulers` verify family (the same code `ditto verify ../shared/golden/schedulers` runs).
// Also checks the grids that the README calls out by value. Skipped when ../shared is absent.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { readSafetensors, toNumberArray, writeSafetensors } from "../../src/io/safetensors.js";
import { createScheduler } from "../../src/schedulers/index.js";
import { runSchedulersFolder } from "../../src/verify/families/schedulers.js";
import type { VerifyOutputResult } from "../../src/verify/types.js";

const DIR = new URL("../../../shared/golden/schedulers/", import.meta.url).pathname;

describe.skipIf(!existsSync(`${DIR}index.json`))("schedulers golden", () => {
  const index = existsSync(`${DIR}index.json`) ? JSON.parse(readFileSync(`${DIR}index.json`, "utf8")) : { settings: {} };
  let results: Promise<{ outputs: Record<string, VerifyOutputResult>; skipped: string[] }> | undefined;
  const run = () => (results ??= runSchedulersFolder({ dir: DIR, caseName: "schedulers", config: undefined, options: {} }));

  it("produces every listed output (nothing skipped)", async () => {
    const { outputs, skipped } = await run();
    expect(skipped).toEqual([]);
    expect(Object.keys(outputs).length).toBeGreaterThan(0);
  });

  for (const [setting, entry] of Object.entries(index.settings as Record<string, { steps: number[] }>)) {
    for (const steps of entry.steps) {
      it(`${setting} n${steps}: timesteps exact, sigmas and trajectory within tolerance`, async () => {
        const { outputs } = await run();
        const mine = Object.entries(outputs).filter(([name]) => name.startsWith(`${setting}.n${steps}.`));
        expect(mine.map(([name]) => name.split(".").pop())).toEqual(expect.arrayContaining(["timesteps", "samples", "out", "model_inputs"]));
        const failed = mine.filter(([, r]) => !r.pass).map(([name, r]) => `${name}: maxAbsErr ${r.maxAbsErr} worstRatio ${r.worstRatio}`);
        expect(failed).toEqual([]);
        expect(outputs[`${setting}.n${steps}.timesteps`]!.maxAbsErr).toBe(0);
      });
    }
  }

  it("a folder with one setting works, and a perturbed sample or timestep is caught", async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), "ditto-sched-"));
    try {
      const setting = "dpmsolver_multistep_order2";
      const entry = index.settings[setting];
      writeFileSync(path.join(tmp, "index.json"), JSON.stringify({ ...index, settings: { [setting]: entry } }));
      copyFileSync(path.join(DIR, entry.config), path.join(tmp, entry.config));
      const io = readSafetensors(path.join(DIR, entry.file));
      const samples = io.tensors.get("n10.samples")!;
      const changed = new Float32Array(samples.data as Float32Array);
      changed[7]! += 0.05 * Math.max(1, Math.abs(changed[7]!)); // far beyond rtol 1e-5 / atol 1e-5·max
      const timesteps = io.tensors.get("n25.timesteps")!;
      const shifted = new BigInt64Array(timesteps.data as BigInt64Array);
      shifted[3]! += 1n;
      const tensors = new Map([...io.tensors].map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape, data: v.data }]));
      tensors.set("n10.samples", { dtype: "F32", shape: samples.shape, data: changed });
      tensors.set("n25.timesteps", { dtype: "I64", shape: timesteps.shape, data: shifted });
      writeSafetensors(path.join(tmp, entry.file), tensors);
      const { outputs, skipped } = await runSchedulersFolder({ dir: tmp, caseName: "tmp", config: undefined, options: {} });
      expect(skipped).toEqual([]);
      expect(outputs[`${setting}.n10.samples`]!.pass).toBe(false);
      expect(outputs[`${setting}.n25.timesteps`]!.pass).toBe(false);
      expect(outputs[`${setting}.n10.out`]!.pass).toBe(true);
      expect(outputs[`${setting}.n25.samples`]!.pass).toBe(true);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("DDIM trailing rounds half to even and leading starts at 0 (README values)", () => {
    const trailing = createScheduler("ddim", { timestep_spacing: "trailing" });
    const io = readSafetensors(`${DIR}ddim_trailing.safetensors`);
    expect(trailing.timesteps(10)).toEqual(toNumberArray(io.tensors.get("n10.timesteps")!));
    expect(trailing.timesteps(10).slice(0, 2)).toEqual([999, 899]);
    // N = 16: 1000 − 62.5·k hits .5 values; numpy rounds them to even: 937.5 → 938, 812.5 → 812, then − 1
    // (std::round would give 938 and 813 → 812).
    expect(trailing.timesteps(16).slice(0, 4)).toEqual([999, 937, 874, 811]);
    const leading = createScheduler("ddim", { timestep_spacing: "leading" });
    expect(leading.timesteps(10)).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
  });

  it("FlowMatch shift 3 shifts sigma_min twice (last sigma 0.00893 at N = 10)", () => {
    const s = createScheduler("flow-euler", { shift: 3 });
    s.timesteps(10);
    expect(s.sigmas![9]).toBeCloseTo(0.00893, 5);
    expect(s.sigmas![10]).toBe(0);
  });
});

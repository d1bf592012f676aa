// `ditto verify` family for a schedulers folder (shared/golden/README.md "schedulers": index.json +
// <setting>.json + <setting>.safetensors). For every setting and step count index.json lists, it rebuilds the
// scheduler from the setting's diffusers class and config, calls timesteps(N, set_timesteps kwargs), runs the
// recorded trajectory (sample = noise·init_noise_sigma; model_inputs[i] = scaleModelInput; sample = step(
// model_outputs[i], t_i, sample)) and compares every listed output: timesteps exactly, the rest at the setting's
// tolerances.per_tensor (README defaults otherwise: sigmas rtol 1e-6, samples rtol 1e-5, atol 1e-5·max(1, max|ref|)).
// Results are named `<setting>.<tensor>`, e.g. `ddim_leading.n10.samples`.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

import { readSafetensors, toFloat32Array, toNumberArray, type SafetensorsContent, type SafetensorsTensor } from "../../io/safetensors.js";
import { schedulerFromDiffusersClass } from "../../schedulers/factory.js";
import type { Scheduler, TimestepsOptions } from "../../schedulers/types.js";
import { Tensor } from "../../tensor.js";
import { compareArrays, type Tolerance } from "../compare.js";
import { registerVerifyFamily } from "../registry.js";
import type { FamilyRunResult, VerifyContext, VerifyOutputResult } from "../types.js";

interface SettingEntry {
  file: string;
  config: string;
  class: string;
  steps: number[];
}

/** Parses a setting JSON; Python's json.dump writes bare -Infinity / Infinity / NaN (e.g. lambda_min_clipped). */
function readJson(file: string): Record<string, any> {
  const text = readFileSync(file, "utf8").replace(/([:\[,]\s*)(-?Infinity|NaN)(?=\s*[,\]}])/g, '$1"$2"');
  return JSON.parse(text, (_key, value) =>
    value === "Infinity" ? Infinity : value === "-Infinity" ? -Infinity : value === "NaN" ? NaN : value,
  ) as Record<string, any>;
}

function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]!));
  return m;
}

/** Tolerance of `name` in a setting JSON, else the README's scheduler rules. */
export function schedulerTolerance(settingConfig: Record<string, any>, name: string, expected: ArrayLike<number>): Tolerance {
  const entry = settingConfig?.tolerances?.per_tensor?.[name];
  if (entry && typeof entry.atol === "number" && typeof entry.rtol === "number") return { atol: entry.atol, rtol: entry.rtol };
  const leaf = name.split(".").pop()!;
  if (leaf === "timesteps") return { atol: 0, rtol: 0 };
  if (leaf === "sigmas" || leaf === "alphas_cumprod" || leaf === "init_noise_sigma") return { atol: 1e-7, rtol: 1e-6 };
  return { atol: 1e-5 * Math.max(1, maxAbs(expected)), rtol: 1e-5 };
}

function timestepsOptions(kwargs: Record<string, any> | undefined): TimestepsOptions {
  const options: TimestepsOptions = {};
  if (Array.isArray(kwargs?.sigmas)) options.sigmas = kwargs!.sigmas as number[];
  if (typeof kwargs?.mu === "number") options.mu = kwargs!.mu;
  return options;
}

function tensorFrom(t: SafetensorsTensor): Tensor {
  return Tensor.from(toFloat32Array(t), t.shape);
}

/** Everything one step count of one setting produces, by tensor name (without the setting prefix). */
export function runSchedulerTrajectory(scheduler: Scheduler, io: SafetensorsContent, prefix: string, kwargs: Record<string, any> | undefined): Map<string, Float32Array> {
  const produced = new Map<string, Float32Array>();
  const get = (name: string): SafetensorsTensor => {
    const t = io.tensors.get(`${prefix}.${name}`);
    if (!t) throw new Error(`Tensor "${prefix}.${name}" missing`);
    return t;
  };
  const n = Number(prefix.slice(1));
  const timesteps = scheduler.timesteps(n, timestepsOptions(kwargs));
  produced.set("timesteps", Float32Array.from(timesteps));
  if (scheduler.sigmas) produced.set("sigmas", Float32Array.from(scheduler.sigmas));
  produced.set("init_noise_sigma", Float32Array.of(scheduler.initNoiseSigma));
  if (!io.tensors.has(`${prefix}.noise`) || !io.tensors.has(`${prefix}.model_outputs`)) return produced;

  const noise = tensorFrom(get("noise"));
  const outputsRef = get("model_outputs");
  const modelOutputs = tensorFrom(outputsRef);
  const sampleShape = noise.shape;
  let sample = noise.scale(scheduler.initNoiseSigma);
  produced.set("sample_init", sample.toFloat32Array());
  const size = sample.size;
  const steps = timesteps.length;
  const inputs = new Float32Array(steps * size);
  const samples = new Float32Array(steps * size);
  for (let i = 0; i < steps; i++) {
    const t = timesteps[i]!;
    const modelInput = scheduler.scaleModelInput(sample, t);
    inputs.set(modelInput.toFloat32Array(), i * size);
    if (modelInput !== sample) modelInput.dispose();
    const row = modelOutputs.slice(i, i + 1);
    const modelOutput = row.reshape(sampleShape);
    row.dispose();
    const next = scheduler.step(modelOutput, t, sample);
    modelOutput.dispose();
    sample.dispose();
    sample = next;
    samples.set(sample.toFloat32Array(), i * size);
  }
  produced.set("model_inputs", inputs);
  produced.set("samples", samples);
  produced.set("out", sample.toFloat32Array());
  sample.dispose();
  noise.dispose();
  modelOutputs.dispose();
  return produced;
}

function compareNamed(settingConfig: Record<string, any>, name: string, actual: ArrayLike<number>, reference: SafetensorsTensor): VerifyOutputResult {
  const expected = toFloat32Array(reference);
  return compareArrays(actual, expected, schedulerTolerance(settingConfig, name, expected));
}

export async function runSchedulersFolder(context: VerifyContext): Promise<FamilyRunResult> {
  const { dir, options } = context;
  const index = readJson(path.join(dir, "index.json"));
  const outputs: Record<string, VerifyOutputResult> = {};
  const skipped: string[] = [];
  for (const [setting, entry] of Object.entries(index.settings as Record<string, SettingEntry>)) {
    try {
      await verifySetting(dir, setting, entry, outputs, skipped, options.log);
    } catch (e) {
      // One unreadable or unsupported setting fails that setting only; the others are still checked.
      outputs[setting] = { maxAbsErr: null, worstRatio: null, atol: 0, rtol: 0, pass: false, error: (e as Error).message };
    }
  }
  return { outputs, skipped };
}

async function verifySetting(
  dir: string,
  setting: string,
  entry: SettingEntry,
  outputs: Record<string, VerifyOutputResult>,
  skipped: string[],
  log: ((line: string) => void) | undefined,
): Promise<void> {
  const settingConfig = readJson(path.join(dir, entry.config));
  const io = readSafetensors(path.join(dir, entry.file));
  const listed: string[] = Array.isArray(settingConfig.io_roles?.outputs) ? settingConfig.io_roles.outputs : [...io.tensors.keys()];
  const config = settingConfig.full_config ?? settingConfig.constructor_kwargs ?? {};
  const scheduler = schedulerFromDiffusersClass(entry.class ?? settingConfig.class, config);
  log?.(`${setting}: ${scheduler.name}, steps ${entry.steps.join(", ")}`);
  const produced = new Map<string, ArrayLike<number>>();
  const alphas = (scheduler as { alphasCumprod?: Float32Array }).alphasCumprod;
  if (alphas) produced.set("alphas_cumprod", alphas);
  for (const steps of entry.steps) {
    const prefix = `n${steps}`;
    const kwargs = settingConfig.set_timesteps?.[prefix];
    for (const [name, values] of runSchedulerTrajectory(scheduler, io, prefix, kwargs)) produced.set(`${prefix}.${name}`, values);
  }
  for (const name of listed) {
    const reference = io.tensors.get(name);
    const values = produced.get(name);
    if (!reference || !values) {
      skipped.push(`${setting}.${name}`);
      continue;
    }
    const result = compareNamed(settingConfig, name, values, reference);
    if (reference.dtype === "I64" && result.pass) {
      // Integer grids are exact: compare as integers too (float32 holds every timestep < 2^24 exactly).
      const ints = toNumberArray(reference);
      result.pass = ints.every((v, i) => v === values[i]);
    }
    outputs[`${setting}.${name}`] = result;
  }
}

export function isSchedulersFolder(dir: string): boolean {
  const file = path.join(dir, "index.json");
  if (!existsSync(file)) return false;
  try {
    const index = readJson(file);
    return typeof index.settings === "object" && index.settings !== null && !Array.isArray(index.settings);
  } catch {
    return false;
  }
}

registerVerifyFamily({
  name: "schedulers",
  detect: (dir) => isSchedulersFolder(dir),
  run: (context) => runSchedulersFolder(context),
});

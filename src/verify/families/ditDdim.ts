// The dit-official DDIM trajectory for `ditto verify` (shared/golden/README.md "dit-official", "DDIM trajectory"):
// an output extension of the dit-official family that runs DiT's own respaced DDIM (η = 0) end to end with the
// case's settings — config call.ddim.timestep_respacing, cfg scale from io `ddim.cfg_scale`, labels `ddim.y`,
// x_T = cat([ddim.x_T, ddim.x_T]) — through model.forwardWithCfg (guidance on the first 3 channels, like the
// reference), and compares ddim.timesteps / samples / pred_xstart / out / out_cond / step0.model_out. Where the
// config gives `atol_per_step` (samples, pred_xstart), every step is held to its own atol (stricter than the
// single atol; the reported atol is the largest).
import { toFloat32Array, toNumberArray, type SafetensorsTensor } from "../../io/safetensors.js";
import { DitDdimScheduler } from "../../schedulers/ditDdim.js";
import { Tensor } from "../../tensor.js";
import { compareWithReference, ioTensor } from "../case.js";
import { compareArrays } from "../compare.js";
import { registerOutputExtension } from "../registry.js";
import type { VerifyContext, VerifyOutputResult } from "../types.js";
import type { DitVerifyState } from "./dit.js";

export const DDIM_OUTPUTS = ["ddim.timesteps", "ddim.samples", "ddim.pred_xstart", "ddim.out", "ddim.out_cond", "ddim.step0.model_out"];

/** Channels the reference's forward_with_cfg guides ("channels [:3]" in config.call), 3 by default. */
function guidedChannels(config: Record<string, any> | undefined): number {
  const match = /channels \[:(\d+)\]/.exec(JSON.stringify(config?.call ?? ""));
  return match ? Number(match[1]) : 3;
}

export interface DitDdimTrajectory {
  timesteps: number[];
  samples: Float32Array;
  predXstart: Float32Array;
  out: Float32Array;
  outCond: Float32Array;
  step0ModelOut: Float32Array;
}

/** Runs the official DDIM loop on a 2N CFG batch: returns every step's sample and x₀ prediction. */
export async function runDitDdimTrajectory(
  model: DitVerifyState["model"],
  xT: Tensor,
  labels: number[],
  cfgScale: number,
  respacing: string | number,
  guided = 3,
): Promise<DitDdimTrajectory> {
  const scheduler = new DitDdimScheduler();
  const timesteps = scheduler.timestepsForRespacing(respacing);
  const half = xT.shape[0]!;
  let x = Tensor.concat([xT, xT]);
  const size = x.size;
  const samples = new Float32Array(timesteps.length * size);
  const predXstart = new Float32Array(timesteps.length * size);
  let step0ModelOut: Float32Array = new Float32Array(0);
  for (let i = 0; i < timesteps.length; i++) {
    const t = timesteps[i]!;
    const modelOut = await model.forwardWithCfg(x, new Float32Array(2 * half).fill(t), labels, cfgScale, guided);
    if (i === 0) step0ModelOut = modelOut.toFloat32Array();
    const { prevSample, predOriginalSample } = scheduler.stepDetailed(modelOut, t, x);
    modelOut.dispose();
    predXstart.set(predOriginalSample!.toFloat32Array(), i * size);
    predOriginalSample!.dispose();
    samples.set(prevSample.toFloat32Array(), i * size);
    x.dispose();
    x = prevSample;
  }
  const out = x.toFloat32Array();
  x.dispose();
  return { timesteps, samples, predXstart, out, outCond: out.slice(0, size / 2), step0ModelOut };
}

/** Per-step comparison when the config gives atol_per_step; the overall comparison otherwise. */
function comparePerStep(name: string, produced: Float32Array, reference: SafetensorsTensor, config: Record<string, any> | undefined): VerifyOutputResult {
  const overall = compareWithReference(name, produced, reference, config);
  const perStep: unknown = config?.tolerances?.per_tensor?.[name]?.atol_per_step;
  if (!Array.isArray(perStep) || perStep.length !== reference.shape[0] || overall.error) return overall;
  const expected = toFloat32Array(reference);
  const stride = expected.length / perStep.length;
  let worst = 0;
  let pass = overall.pass;
  perStep.forEach((atol: number, step) => {
    const r = compareArrays(produced.subarray(step * stride, (step + 1) * stride), expected.subarray(step * stride, (step + 1) * stride), { atol, rtol: overall.rtol });
    worst = Math.max(worst, r.worstRatio ?? Infinity);
    pass &&= r.pass;
  });
  return { ...overall, worstRatio: Math.max(worst, overall.worstRatio ?? 0), pass };
}

registerOutputExtension<DitVerifyState>("dit-official", {
  name: "dit-ddim-trajectory",
  handles: (name, context: VerifyContext) => DDIM_OUTPUTS.includes(name) && context.config?.call?.ddim !== undefined,
  async run(names, context, { model, io }) {
    const { dir, config } = context;
    const ddim = config?.call?.ddim ?? {};
    if (ddim.eta !== undefined && ddim.eta !== 0) throw new Error(`DDIM trajectory with eta ${ddim.eta} is not supported (only eta 0)`);
    const xTRef = ioTensor(io, "ddim.x_T", dir);
    const xT = Tensor.from(toFloat32Array(xTRef), xTRef.shape);
    const labels = toNumberArray(ioTensor(io, "ddim.y", dir));
    const scale = io.tensors.has("ddim.cfg_scale") ? toFloat32Array(ioTensor(io, "ddim.cfg_scale", dir))[0]! : Number(ddim.model_kwargs?.cfg_scale);
    context.options.log?.(`${context.caseName}: DDIM trajectory, respacing ${ddim.timestep_respacing ?? "25"}, cfg ${scale}`);
    const run = await runDitDdimTrajectory(model, xT, labels, scale, ddim.timestep_respacing ?? "25", guidedChannels(config));
    xT.dispose();
    const produced: Record<string, Float32Array> = {
      "ddim.timesteps": Float32Array.from(run.timesteps),
      "ddim.samples": run.samples,
      "ddim.pred_xstart": run.predXstart,
      "ddim.out": run.out,
      "ddim.out_cond": run.outCond,
      "ddim.step0.model_out": run.step0ModelOut,
    };
    const results: Record<string, VerifyOutputResult> = {};
    for (const name of names) {
      const reference = io.tensors.get(name);
      const values = produced[name];
      if (!reference || !values) continue;
      results[name] = comparePerStep(name, values, reference, config);
    }
    return results;
  },
});

// Verify runner for the families conditioned by named tensors (PixArt, Wan; shared/golden/README.md "pixart",
// "wan"): loads the case folder with loadModel(), feeds `x`, `t` and the condition tensors (io names mapped to the
// API's condition names, integer masks as float), captures every intermediate the engine names after the
// reference modules and compares each name in io_roles.outputs. A family adds what one forward cannot give: extra
// runs (another condition set, another weights file of the folder) producing named outputs.
import { existsSync } from "node:fs";
import path from "node:path";

import { loadModel, type Model } from "../../model.js";
import { toFloat32Array, type SafetensorsContent } from "../../io/safetensors.js";
import { Tensor } from "../../tensor.js";
import { compareProduced, ioTensor, outputNames, readIo, referenceClass, weightNames } from "../case.js";
import { registerVerifyFamily } from "../registry.js";
import type { FamilyRunResult, VerifyContext } from "../types.js";

export interface ConditionedInputs {
  x: Tensor;
  t: Float32Array;
  conditions: Record<string, Tensor>;
}

export interface ConditionedFamilySpec {
  name: string;
  /** Reference classes of the case config (with or without the "diffusers." prefix). */
  referenceClasses: string[];
  /** Without a config: any of these tensor names marks the family. */
  markers: string[];
  inputs: { x: string; t: string };
  /** API condition name → io tensor name; an io name missing from the case leaves an optional condition out. */
  conditions: Record<string, string>;
  /** Outputs beyond the captured forward: name → values. */
  extra?: (model: Model, inputs: ConditionedInputs, context: VerifyContext, io: SafetensorsContent) => Promise<Map<string, Float32Array>>;
}

function tensorOf(io: SafetensorsContent, name: string, dir: string): Tensor {
  const t = ioTensor(io, name, dir);
  return Tensor.from(toFloat32Array(t), t.shape);
}

async function runConditioned(spec: ConditionedFamilySpec, context: VerifyContext): Promise<FamilyRunResult> {
  const { dir, config, options } = context;
  const io = readIo(dir);
  const listed = config?.io_roles?.inputs;
  const inputNames = [spec.inputs.x, spec.inputs.t, ...Object.values(spec.conditions)];
  const wanted = outputNames(config, io, Array.isArray(listed) ? listed : inputNames);
  const model = await loadModel(dir, { threads: options.threads, dtype: options.dtype });
  const inputs: ConditionedInputs = {
    x: tensorOf(io, spec.inputs.x, dir),
    t: toFloat32Array(ioTensor(io, spec.inputs.t, dir)),
    conditions: {},
  };
  try {
    options.log?.(`${context.caseName}: ${spec.name} (${model.info.layout}), depth ${model.config.depth}, hidden ${model.config.hiddenSize}`);
    for (const [apiName, ioName] of Object.entries(spec.conditions)) {
      if (io.tensors.has(ioName)) inputs.conditions[apiName] = tensorOf(io, ioName, dir);
    }
    const { out, intermediates } = await model.forwardDetailed(inputs.x, inputs.t, inputs.conditions, { capture: true });
    const produced = new Map<string, Float32Array>();
    for (const [name, tensor] of Object.entries(intermediates)) {
      produced.set(name, tensor.toFloat32Array());
      tensor.dispose();
    }
    produced.set("out", out.toFloat32Array());
    out.dispose();
    if (spec.extra) for (const [name, values] of await spec.extra(model, inputs, context, io)) produced.set(name, values);
    return compareProduced(wanted, produced, io, config);
  } finally {
    inputs.x.dispose();
    for (const tensor of Object.values(inputs.conditions)) tensor.dispose();
    model.dispose();
  }
}

/** Runs the family's forward with another weights file of the case folder (e.g. the official layout's). */
export async function forwardWithWeights(file: string, inputs: ConditionedInputs, context: VerifyContext): Promise<Float32Array | undefined> {
  const weights = path.join(context.dir, file);
  if (!existsSync(weights)) return undefined;
  const model = await loadModel(weights, { threads: context.options.threads, dtype: context.options.dtype });
  try {
    context.options.log?.(`${context.caseName}: ${file} (${model.info.layout} layout)`);
    const out = await model.forward(inputs.x, inputs.t, inputs.conditions);
    const values = out.toFloat32Array();
    out.dispose();
    return values;
  } finally {
    model.dispose();
  }
}

export function registerConditionedFamily(spec: ConditionedFamilySpec): void {
  registerVerifyFamily({
    name: spec.name,
    detect: (dir, config) => {
      const cls = referenceClass(config);
      if (cls) return spec.referenceClasses.some((c) => cls === c || cls === `diffusers.${c}`);
      const names = weightNames(dir);
      return spec.markers.some((m) => names.has(m));
    },
    run: (context) => runConditioned(spec, context),
  });
}

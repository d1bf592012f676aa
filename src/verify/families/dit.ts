// Verify families for the DiT golden cases (shared/golden/README.md "dit-official", "dit-diffusers"):
// loads the case folder with loadModel(), feeds the `inputs`, captures every intermediate the engine names after
// the reference modules, runs forward_with_cfg for `cfg.out`, and compares each name in io_roles.outputs.
// Outputs the family cannot produce go to an OutputExtension registered for the family (state: DitVerifyState),
// else to `skipped` (e.g. the dit-official DDIM trajectory `ddim.*` until the sampler extension is registered).
import { loadModel, type Model } from "../../model.js";
import { toFloat32Array, toNumberArray, type SafetensorsContent } from "../../io/safetensors.js";
import { Tensor } from "../../tensor.js";
import { compareProduced, ioTensor, outputNames, readIo, referenceClass, weightNames } from "../case.js";
import { outputExtensions, registerVerifyFamily } from "../registry.js";
import type { FamilyRunResult, VerifyContext, VerifyFamily, VerifyOutputResult } from "../types.js";

/** What a DiT output extension receives: the loaded model (disposed after the run) and the case's io tensors. */
export interface DitVerifyState {
  model: Model;
  io: SafetensorsContent;
}

interface DitLayoutSpec {
  name: "dit-official" | "dit-diffusers";
  referenceClass: string;
  /** A tensor name only this layout's checkpoints have. */
  marker: string;
  inputs: { x: string; t: string; y: string };
}

const LAYOUTS: DitLayoutSpec[] = [
  { name: "dit-official", referenceClass: "models.DiT", marker: "x_embedder.proj.weight", inputs: { x: "x", t: "t", y: "y" } },
  {
    name: "dit-diffusers",
    referenceClass: "diffusers.DiTTransformer2DModel",
    marker: "pos_embed.proj.weight",
    inputs: { x: "hidden_states", t: "timestep", y: "class_labels" },
  },
];

/** The reference's forward_with_cfg guides the first 3 channels; read it from the config's call text when given. */
export function guidedChannels(config: Record<string, any> | undefined): number {
  const text = JSON.stringify(config?.call ?? "");
  const match = /channels \[:(\d+)\]/.exec(text);
  return match ? Number(match[1]) : 3;
}

function tensorOf(io: SafetensorsContent, name: string, dir: string): Tensor {
  const t = ioTensor(io, name, dir);
  return Tensor.from(toFloat32Array(t), t.shape);
}

async function runDit(spec: DitLayoutSpec, context: VerifyContext): Promise<FamilyRunResult> {
  const { dir, config, options } = context;
  const io = readIo(dir);
  const inputNames = [spec.inputs.x, spec.inputs.t, spec.inputs.y];
  const listed = config?.io_roles?.inputs;
  const wanted = outputNames(config, io, Array.isArray(listed) ? listed : inputNames);
  const outputs: Record<string, VerifyOutputResult> = {};
  const model = await loadModel(dir, { threads: options.threads, dtype: options.dtype });
  try {
    options.log?.(`${context.caseName}: ${spec.name}, depth ${model.config.depth}, hidden ${model.config.hiddenSize}`);
    const x = tensorOf(io, spec.inputs.x, dir);
    const t = toFloat32Array(ioTensor(io, spec.inputs.t, dir));
    const y = toNumberArray(ioTensor(io, spec.inputs.y, dir));
    const { out, intermediates } = await model.forwardDetailed(x, t, y, { capture: true });
    const produced = new Map<string, Tensor>(Object.entries(intermediates));
    produced.set("out", out);
    if (wanted.includes("cfg.out") && ["cfg.x", "cfg.t", "cfg.y", "cfg.scale"].every((n) => io.tensors.has(n))) {
      const scale = toFloat32Array(ioTensor(io, "cfg.scale", dir))[0]!;
      const cfgOut = await model.forwardWithCfg(
        tensorOf(io, "cfg.x", dir),
        toFloat32Array(ioTensor(io, "cfg.t", dir)),
        toNumberArray(ioTensor(io, "cfg.y", dir)),
        scale,
        guidedChannels(config),
      );
      produced.set("cfg.out", cfgOut);
    }
    let skipped = compareProduced(wanted, produced, io, config, outputs).skipped;
    for (const extension of outputExtensions(spec.name)) {
      const mine = skipped.filter((n) => extension.handles(n, context));
      if (mine.length === 0) continue;
      Object.assign(outputs, await extension.run(mine, context, { model, io } satisfies DitVerifyState));
      skipped = skipped.filter((n) => !(n in outputs));
    }
    for (const tensor of produced.values()) tensor.dispose();
    x.dispose();
    return { outputs, skipped };
  } finally {
    model.dispose();
  }
}

function detectLayout(spec: DitLayoutSpec, dir: string, config: Record<string, any> | undefined): boolean {
  const cls = referenceClass(config);
  if (cls) return cls === spec.referenceClass || cls === spec.referenceClass.replace(/^diffusers\./, "");
  return weightNames(dir).has(spec.marker);
}

for (const spec of LAYOUTS) {
  const family: VerifyFamily = {
    name: spec.name,
    detect: (dir, config) => detectLayout(spec, dir, config),
    run: (context) => runDit(spec, context),
  };
  registerVerifyFamily(family);
}


// Verify families for the text-conditioned joint-attention golden cases (shared/golden/README.md "sd3", "flux"):
// loads the case folder with loadModel(), feeds the `inputs` as the model's named conditions (model.info), captures
// every intermediate the engine names after the reference modules and compares each name in io_roles.outputs.
// Extra outputs: SD3 `out_skip_layers_<i>[_<j>…]` (Skip-Layer Guidance) is a forward with those blocks skipped;
// Flux `official.out` is the same case loaded from model.official.safetensors (black-forest-labs key names) with
// the batched `official.img_ids` / `official.txt_ids`.
import { existsSync } from "node:fs";
import path from "node:path";

import { loadModel, type Model } from "../../model.js";
import type { ModelConditions } from "../../modelInputs.js";
import { toFloat32Array, type SafetensorsContent } from "../../io/safetensors.js";
import { Tensor } from "../../tensor.js";
import { compareProduced, ioTensor, outputNames, readIo, referenceClass, weightNames } from "../case.js";
import { registerVerifyFamily } from "../registry.js";
import type { FamilyRunResult, VerifyContext, VerifyOutputResult } from "../types.js";

interface JointSpec {
  name: "sd3" | "flux";
  classPattern: RegExp;
  /** Any of these sets of tensor names marks the family's checkpoints (both layouts for Flux). */
  markers: string[][];
  /** io tensor -> the model's condition name; ids without a batch dimension are repeated per sample. */
  conditions: Record<string, string>;
}

const SPECS: JointSpec[] = [
  {
    name: "flux",
    classPattern: /Flux/,
    markers: [
      ["x_embedder.weight", "transformer_blocks.0.attn.add_q_proj.weight"],
      ["img_in.weight", "double_blocks.0.img_attn.qkv.weight"],
    ],
    conditions: {
      encoderHiddenStates: "encoder_hidden_states",
      pooledProjections: "pooled_projections",
      imgIds: "img_ids",
      txtIds: "txt_ids",
      guidance: "guidance",
    },
  },
  {
    name: "sd3",
    classPattern: /SD3Transformer2DModel/,
    markers: [["pos_embed.pos_embed", "context_embedder.weight"]],
    conditions: { encoderHiddenStates: "encoder_hidden_states", pooledProjections: "pooled_projections" },
  },
];

const SKIP_LAYERS = /^out_skip_layers_(\d+(?:_\d+)*)$/;

function tensorOf(io: SafetensorsContent, name: string, dir: string, batch?: number): Tensor {
  const t = ioTensor(io, name, dir);
  const values = toFloat32Array(t);
  // Ids shared by the batch ([L, 3], diffusers) become [B, L, 3]: every condition has the batch as dim 0.
  if (batch !== undefined && t.shape.length === 2 && t.shape[1] === 3) {
    const out = new Float32Array(batch * values.length);
    for (let b = 0; b < batch; b++) out.set(values, b * values.length);
    return Tensor.from(out, [batch, ...t.shape]);
  }
  return Tensor.from(values, t.shape);
}

function conditionsOf(spec: JointSpec, model: Model, io: SafetensorsContent, dir: string, batch: number, rename: Record<string, string> = {}): ModelConditions {
  const conditions: Record<string, Tensor> = {};
  for (const c of model.info.conditions) {
    const ioName = rename[c.name] ?? spec.conditions[c.name];
    if (ioName && io.tensors.has(ioName)) conditions[c.name] = tensorOf(io, ioName, dir, batch);
  }
  return conditions;
}

function disposeAll(conditions: ModelConditions): void {
  for (const v of Object.values(conditions)) if (v instanceof Tensor) v.dispose();
}

async function runJoint(spec: JointSpec, context: VerifyContext): Promise<FamilyRunResult> {
  const { dir, config, options } = context;
  const io = readIo(dir);
  const wanted = outputNames(config, io, ["hidden_states", "timestep", ...Object.values(spec.conditions)]);
  const outputs: Record<string, VerifyOutputResult> = {};
  const produced = new Map<string, Tensor>();
  const x = tensorOf(io, "hidden_states", dir);
  const t = toFloat32Array(ioTensor(io, "timestep", dir));
  const batch = x.shape[0]!;
  const load = (file: string) => loadModel(path.join(dir, file), { threads: options.threads, dtype: options.dtype });
  const official = path.join(dir, "model.official.safetensors");
  const hasMain = existsSync(path.join(dir, "model.safetensors"));
  try {
    if (hasMain) {
      const model = await load("model.safetensors");
      try {
        options.log?.(`${context.caseName}: ${spec.name} (${model.info.layout}), ${model.info.blockLists.map((l) => `${l.name} ${l.count}`).join(", ")}`);
        const conditions = conditionsOf(spec, model, io, dir, batch);
        const { out, intermediates } = await model.forwardDetailed(x, t, conditions, { capture: true });
        for (const [name, value] of Object.entries(intermediates)) produced.set(name, value);
        produced.set("out", out);
        for (const name of wanted) {
          const m = SKIP_LAYERS.exec(name);
          if (!m) continue;
          const skipBlocks = m[1]!.split("_").map(Number);
          produced.set(name, (await model.forwardDetailed(x, t, conditions, { skipBlocks })).out);
        }
        disposeAll(conditions);
      } finally {
        model.dispose();
      }
    }
    if (existsSync(official) && (wanted.includes("official.out") || !hasMain)) {
      const model = await load("model.official.safetensors");
      try {
        options.log?.(`${context.caseName}: ${spec.name} (${model.info.layout})`);
        const conditions = conditionsOf(spec, model, io, dir, batch, { imgIds: io.tensors.has("official.img_ids") ? "official.img_ids" : "img_ids", txtIds: io.tensors.has("official.txt_ids") ? "official.txt_ids" : "txt_ids" });
        const { out, intermediates } = await model.forwardDetailed(x, t, conditions, { capture: !hasMain });
        // Without model.safetensors the official checkpoint answers for every output (captures use the
        // reference module names in both layouts).
        for (const [name, value] of Object.entries(intermediates)) produced.set(name, value);
        produced.set(hasMain ? "official.out" : "out", out);
        if (!hasMain) produced.set("official.out", out);
        disposeAll(conditions);
      } finally {
        model.dispose();
      }
    }
    return compareProduced(wanted, produced, io, config, outputs);
  } finally {
    for (const tensor of new Set(produced.values())) tensor.dispose();
    x.dispose();
  }
}

function detect(spec: JointSpec, dir: string, config: Record<string, any> | undefined): boolean {
  const cls = referenceClass(config);
  if (cls) return spec.classPattern.test(cls);
  const names = weightNames(dir);
  return spec.markers.some((set) => set.every((n) => names.has(n)));
}

for (const spec of SPECS) {
  registerVerifyFamily({ name: spec.name, detect: (dir, config) => detect(spec, dir, config), run: (context) => runJoint(spec, context) });
}

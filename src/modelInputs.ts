// A batch's model input x and its conditions, checked against what the model declares (model.info: the engine's
// ModelInfo specs, ditto/model.h) with user-facing messages, before any native call. One check for Model.forward*
// and Session.step. Conditions are the class labels of label-conditioned families (DiT) and named tensors for
// the others (text embeddings, masks, pooled vectors, ids…), each with the batch as dim 0.
import { toLabels } from "./batchArgs.js";
import { shapeError, typeError } from "./errors.js";
import type { NativeTensor } from "./native.js";
import { Tensor } from "./tensor.js";

/** One input, condition or output of a model: shape with -1 for a free size (the batch, a sequence length…). */
export interface ModelTensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly optional: boolean;
}

/** What a model takes and returns, and the named lists of blocks that block plans address (global indices). */
export interface ModelInfo {
  readonly family: string;
  readonly layout: string;
  readonly inputs: readonly ModelTensorSpec[];
  readonly conditions: readonly ModelTensorSpec[];
  readonly outputs: readonly ModelTensorSpec[];
  readonly blockLists: readonly { readonly name: string; readonly count: number }[];
}

export type Labels = Int32Array | readonly number[];

/** The conditions of a batch: labels (label-conditioned families) and tensors by the names in model.info.conditions. */
export type ModelConditions = { labels?: Labels } & { [name: string]: Tensor | Labels | undefined };

export interface CheckedConditions {
  labels: Int32Array | undefined;
  tensors: Record<string, NativeTensor> | undefined;
}

/** Axis letters of an input of this rank, for messages: [B, C, H, W] images, [B, C, F, H, W] videos. */
const AXES: Record<number, string> = { 3: "B, L, D", 4: "B, C, H, W", 5: "B, C, F, H, W" };

/**
 * Checks x against the model's first input spec. `exact` fixes free spatial sizes the engine needs (the DiT's
 * configured input size), so the message says the shape the model really takes. Returns the batch size.
 */
export function checkModelInput(info: ModelInfo, x: unknown, exact?: readonly number[]): number {
  if (!(x instanceof Tensor)) throw typeError("Tensor", "x", x);
  const want = exact ?? info.inputs[0]!.shape;
  const shape = x.shape;
  if (shape.length !== want.length) {
    throw shapeError(`shape with ${want.length} dimensions [${AXES[want.length] ?? "B, …"}]`, "x", shape);
  }
  if (shape[0]! < 1 || !want.every((d, i) => i === 0 || d === -1 || d === shape[i])) {
    throw shapeError(`shape [B, ${want.slice(1).map((d) => (d === -1 ? "any" : String(d))).join(", ")}] with B >= 1`, "x", shape);
  }
  return shape[0]!;
}

/** Splits a forward's third argument (labels, or { labels?, …tensors }) into its labels and its tensors. */
export function splitConditions(value: unknown): { labels: unknown; tensors: unknown } {
  if (value instanceof Int32Array || Array.isArray(value) || value === null || typeof value !== "object" || value instanceof Tensor) {
    return { labels: value, tensors: undefined };
  }
  const { labels, ...tensors } = value as Record<string, unknown>;
  return { labels, tensors };
}

/**
 * The conditions of `batch` samples: labels for label-conditioned families (bounded by numClasses, the null label)
 * and the named tensors of model.info.conditions. `names` says how the two arguments are called in messages.
 */
export function checkConditions(
  info: ModelInfo,
  labels: unknown,
  tensors: unknown,
  batch: number,
  names: { labels: string; tensors: string },
  numClasses: number,
): CheckedConditions {
  const specs = info.conditions;
  const labelSpec = specs.find((s) => s.name === "labels");
  const tensorSpecs = specs.filter((s) => s.name !== "labels");
  let checkedLabels: Int32Array | undefined;
  if (labelSpec && (labels !== undefined || !labelSpec.optional)) checkedLabels = toLabels(labels, names.labels, batch, numClasses);
  else if (!labelSpec && labels !== undefined) {
    throw new TypeError(`The ${info.family} model takes no labels (${names.labels}); its conditions are ${tensorSpecs.map((s) => s.name).join(", ")}`);
  }
  if (tensors !== undefined && (tensors === null || typeof tensors !== "object" || Array.isArray(tensors) || tensors instanceof Tensor)) {
    throw typeError("object of condition Tensors", names.tensors, tensors);
  }
  const given = (tensors ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!tensorSpecs.some((s) => s.name === key)) {
      const known = tensorSpecs.length ? tensorSpecs.map((s) => s.name).join(", ") : "no condition tensors";
      throw new TypeError(`Unknown condition "${key}" in ${names.tensors}: the ${info.family} model takes ${known}`);
    }
  }
  const handles: Record<string, NativeTensor> = {};
  for (const spec of tensorSpecs) {
    const v = given[spec.name];
    const field = `${names.tensors}.${spec.name}`;
    if (v === undefined && spec.optional) continue;
    if (!(v instanceof Tensor)) throw typeError("Tensor", field, v);
    const shape = v.shape;
    const ok = shape.length === spec.shape.length && shape[0] === batch && spec.shape.every((d, i) => i === 0 || d === -1 || d === shape[i]);
    if (!ok) throw shapeError(`shape [${batch}, ${spec.shape.slice(1).map((d) => (d === -1 ? "any" : String(d))).join(", ")}]`, field, shape);
    handles[spec.name] = v._handle(field);
  }
  return { labels: checkedLabels, tensors: Object.keys(handles).length > 0 ? handles : undefined };
}

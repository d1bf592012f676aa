// Shared helpers for verify families working on the golden layout: locate files, read config.json and
// io.safetensors, turn a reference tensor into numbers, compare a produced tensor with tolerances.per_tensor.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

import { DittoError } from "../errors.js";
import { readSafetensors, readSafetensorsHeader, toFloat32Array, type SafetensorsContent, type SafetensorsTensor } from "../io/safetensors.js";
import { compareArrays, toleranceFor } from "./compare.js";
import type { VerifyOutputResult } from "./types.js";

export function readJsonIfExists(file: string): Record<string, any> | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, any>;
  } catch (e) {
    throw new DittoError("ERR_MODEL_LOAD", `Cannot parse ${file}: ${(e as Error).message}`);
  }
}

/** The weights file of a case folder: model.safetensors, else dit.safetensors, else the only other *.safetensors. */
export function findWeights(dir: string): string | undefined {
  for (const name of ["model.safetensors", "dit.safetensors"]) {
    if (existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".safetensors") && f !== "io.safetensors");
  } catch {
    return undefined;
  }
  return files.length === 1 ? path.join(dir, files[0]!) : undefined;
}

const headerCache = new Map<string, Set<string>>();

/** Tensor names of the case's weights (header only, cached); empty when there are none. */
export function weightNames(dir: string): Set<string> {
  const file = findWeights(dir);
  if (!file) return new Set();
  let names = headerCache.get(file);
  if (!names) {
    try {
      names = new Set(readSafetensorsHeader(file).keys());
    } catch {
      names = new Set();
    }
    headerCache.set(file, names);
  }
  return names;
}

export function referenceClass(config: Record<string, any> | undefined): string {
  const ref = config?.reference;
  return typeof ref === "string" ? ref : typeof ref?.class === "string" ? ref.class : typeof config?._class_name === "string" ? config._class_name : "";
}

export function readIo(dir: string): SafetensorsContent {
  const file = path.join(dir, "io.safetensors");
  if (!existsSync(file)) throw new DittoError("ERR_MODEL_LOAD", `Missing ${file} (the case's inputs and reference outputs)`);
  return readSafetensors(file);
}

export function ioTensor(io: SafetensorsContent, name: string, dir: string): SafetensorsTensor {
  const t = io.tensors.get(name);
  if (!t) throw new DittoError("ERR_MODEL_LOAD", `Tensor "${name}" not found in ${path.join(dir, "io.safetensors")}`);
  return t;
}

/** Names to check: config io_roles.outputs, else every io tensor that is not an input. */
export function outputNames(config: Record<string, any> | undefined, io: SafetensorsContent, inputs: readonly string[]): string[] {
  const listed = config?.io_roles?.outputs;
  if (Array.isArray(listed) && listed.every((n) => typeof n === "string")) return listed as string[];
  return [...io.tensors.keys()].filter((n) => !inputs.includes(n));
}

const INTEGER_DTYPES = new Set(["I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL"]);

/** Compares produced values with the reference tensor `name` of io, using the case's tolerance for that name. */
export function compareWithReference(
  name: string,
  produced: ArrayLike<number>,
  reference: SafetensorsTensor,
  config: Record<string, any> | undefined,
): VerifyOutputResult {
  const expected = toFloat32Array(reference);
  const isInteger = INTEGER_DTYPES.has(reference.dtype);
  return compareArrays(produced, expected, toleranceFor(config, name, expected, isInteger));
}

/** A produced value: the raw values, or a Tensor (anything with toFloat32Array()). */
export type ProducedValue = ArrayLike<number> | { toFloat32Array(): Float32Array };

/** Compares every wanted name that was produced and has a reference in io (into `outputs`); the others come back
 *  as `skipped`, in order. */
export function compareProduced(
  wanted: readonly string[],
  produced: ReadonlyMap<string, ProducedValue>,
  io: SafetensorsContent,
  config: Record<string, any> | undefined,
  outputs: Record<string, VerifyOutputResult> = {},
): { outputs: Record<string, VerifyOutputResult>; skipped: string[] } {
  const skipped: string[] = [];
  for (const name of wanted) {
    const value = produced.get(name);
    const reference = io.tensors.get(name);
    if (value === undefined || reference === undefined) {
      skipped.push(name);
      continue;
    }
    const values = "toFloat32Array" in value ? value.toFloat32Array() : value;
    outputs[name] = compareWithReference(name, values, reference, config);
  }
  return { outputs, skipped };
}

// Checks of the per-sample arguments every network call takes — timesteps and class labels — with the messages the
// API documents ("Expected <what> for <name> but received <value>"); shared by Model.forward* and Session.step.
import { rangeError, typeError } from "./errors.js";

/** One finite float per sample (a Float32Array is used as is). */
export function toFloat32(values: unknown, name: string, count: number): Float32Array {
  let out: Float32Array;
  if (values instanceof Float32Array) out = values;
  else if (Array.isArray(values) && values.every((v) => typeof v === "number")) out = Float32Array.from(values);
  else throw typeError("Float32Array or number[]", name, values);
  if (out.length !== count) throw new RangeError(`Expected ${count} values (one per sample) for ${name} but received ${out.length}`);
  const bad = out.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw rangeError("finite number", `${name}[${bad}]`, out[bad]);
  return out;
}

/** One class label per sample in [0, numClasses]; numClasses is the null (unconditional) class. */
export function toLabels(values: unknown, name: string, count: number, numClasses: number): Int32Array {
  let list: ArrayLike<number>;
  if (values instanceof Int32Array || (Array.isArray(values) && values.every((v) => typeof v === "number"))) list = values;
  else throw typeError("Int32Array or number[]", name, values);
  if (list.length !== count) throw new RangeError(`Expected ${count} values (one per sample) for ${name} but received ${list.length}`);
  for (let i = 0; i < list.length; i++) {
    const v = list[i]!;
    if (!Number.isInteger(v) || v < 0 || v > numClasses) {
      throw rangeError(`integer between 0 and ${numClasses} (${numClasses} = unconditional)`, `${name}[${i}]`, v);
    }
  }
  return list instanceof Int32Array ? list : Int32Array.from(list);
}

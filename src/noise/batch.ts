// A batch's initial noise as a native Tensor, generated off the JS thread: the native twins of philox.ts and
// reference.ts (native/src/core/noise.cpp, bit-identical to them; test/native/noise.test.ts compares the two) run
// on libuv's thread pool, so a batch of 200 glyph samples (614,400 values, ~70 ms in TypeScript) never blocks the
// event loop. Seeds are split and validated here exactly as the TypeScript generators do it.
import { typeError } from "../errors.js";
import { native, toDittoError } from "../native.js";
import { Tensor } from "../tensor.js";
import { philoxKey } from "./philox.js";
import type { NoiseKind } from "./index.js";

/** Noise [seeds.length, ...sampleShape]: row i is sampleNoise(kind, seeds[i], product(sampleShape)). */
export async function batchNoiseTensor(kind: NoiseKind, seeds: readonly (number | bigint)[], sampleShape: readonly number[]): Promise<Tensor> {
  if (!Array.isArray(sampleShape) || !sampleShape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw typeError("array of non-negative integers", "sampleShape", sampleShape);
  }
  const count = sampleShape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count)) throw new RangeError(`Expected non-negative integer for count but received ${count}`);
  const keys = new Uint32Array(2 * seeds.length);
  seeds.forEach((seed, i) => {
    const [low, high] = philoxKey(seed); // reference.ts splits its uint64 state the same way (low, high words)
    keys[2 * i] = low;
    keys[2 * i + 1] = high;
  });
  let handle;
  try {
    handle = await native().gaussianNoise(kind === "reference" ? "reference" : "philox", keys, count);
  } catch (e) {
    throw toDittoError(e);
  }
  const flat = Tensor._wrap(handle);
  try {
    return flat.reshape([seeds.length, ...sampleShape]);
  } finally {
    flat.dispose();
  }
}

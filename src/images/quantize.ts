// Conversions between model-space images (float, [-1, 1], NCHW) and u8 pixels (NHWC), exactly as DiT's sample.py and
// the glyph fixture (README "Images"): u8 = trunc(clamp(127.5·x + 128, 0, 255)) computed in float32 (as torch does),
// and back for the metric network: x = u8/127.5 − 1 in float32.

/** NCHW float images in [-1, 1] → NHWC u8 (float32 arithmetic, truncation as a uint8 cast). */
export function toUint8NHWC(x: Float32Array, count: number, channels: number, height: number, width: number): Uint8Array {
  const plane = height * width;
  if (x.length !== count * channels * plane) {
    throw new RangeError(`Expected ${count * channels * plane} values for [${count}, ${channels}, ${height}, ${width}] but received ${x.length}`);
  }
  const out = new Uint8Array(x.length);
  for (let n = 0; n < count; n++) {
    for (let c = 0; c < channels; c++) {
      const src = (n * channels + c) * plane;
      for (let p = 0; p < plane; p++) {
        const v = Math.fround(Math.fround(127.5 * x[src + p]!) + 128);
        // NaN → 0 (as clamp + cast would give an unspecified value; 0 keeps a broken sample visible).
        out[(n * plane + p) * channels + c] = v >= 255 ? 255 : v > 0 ? Math.trunc(v) : 0;
      }
    }
  }
  return out;
}

/** NHWC u8 → NCHW float32 in [-1, 1] (x = u8/127.5 − 1), the classifier's input convention. */
export function uint8ToUnitRange(u8: Uint8Array, count: number, height: number, width: number, channels: number): Float32Array {
  const plane = height * width;
  const out = new Float32Array(u8.length);
  for (let n = 0; n < count; n++) {
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < channels; c++) {
        out[(n * channels + c) * plane + p] = Math.fround(Math.fround(u8[(n * plane + p) * channels + c]! / 127.5) - 1);
      }
    }
  }
  return out;
}

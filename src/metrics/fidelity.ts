// Fidelity of an approximated run (cache, guidance variant) to the exact run with the same noise, on u8 images, as
// the glyph fixture's README defines: PSNR per image over all values (100 dB where identical) and SSIM (Wang et al.,
// "Image quality assessment: from error visibility to structural similarity", IEEE TIP 2004) with an 11×11 Gaussian
// window (σ = 1.5) on the valid region, per channel in float64, C1 = (0.01·255)², C2 = (0.03·255)², population
// statistics — what scikit-image's structural_similarity(gaussian_weights=True, sigma=1.5,
// use_sample_covariance=False, data_range=255) computes. Images are NHWC u8.

export const IDENTICAL_PSNR_DB = 100;
const SSIM_SIGMA = 1.5;
const SSIM_RADIUS = 5; // scipy's gaussian_filter truncate 3.5: int(3.5·1.5 + 0.5) = 5 → 11 taps
const C1 = (0.01 * 255) ** 2;
const C2 = (0.03 * 255) ** 2;

export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

/** PSNR in dB of one pair of same-sized u8 images. */
export function psnr(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new RangeError(`Expected images of equal size but received ${a.length} and ${b.length} values`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) { const d = a[i]! - b[i]!; sum += d * d; }
  if (sum === 0) return IDENTICAL_PSNR_DB;
  return 10 * Math.log10((255 * 255) / (sum / a.length));
}

function gaussianTaps(): Float64Array {
  const taps = Float64Array.from({ length: 2 * SSIM_RADIUS + 1 }, (_, i) => Math.exp(-((i - SSIM_RADIUS) ** 2) / (2 * SSIM_SIGMA ** 2)));
  const total = taps.reduce((s, v) => s + v, 0);
  return taps.map((v) => v / total);
}
const TAPS = gaussianTaps();

/** Separable Gaussian filter of a float64 plane, valid region only: (h−10)×(w−10) outputs. */
function filterValid(plane: Float64Array, height: number, width: number): Float64Array {
  const outH = height - 2 * SSIM_RADIUS, outW = width - 2 * SSIM_RADIUS;
  const rows = new Float64Array(height * outW);
  for (let y = 0; y < height; y++) for (let x = 0; x < outW; x++) {
    let s = 0;
    for (let k = 0; k < TAPS.length; k++) s += TAPS[k]! * plane[y * width + x + k]!;
    rows[y * outW + x] = s;
  }
  const out = new Float64Array(outH * outW);
  for (let y = 0; y < outH; y++) for (let x = 0; x < outW; x++) {
    let s = 0;
    for (let k = 0; k < TAPS.length; k++) s += TAPS[k]! * rows[(y + k) * outW + x]!;
    out[y * outW + x] = s;
  }
  return out;
}

/** Mean SSIM of one pair of u8 HWC images over positions and channels. */
export function ssim(a: Uint8Array, b: Uint8Array, shape: ImageShape): number {
  const { height, width, channels } = shape;
  if (a.length !== height * width * channels || b.length !== a.length) {
    throw new RangeError(`Expected two images of ${height}×${width}×${channels} values but received ${a.length} and ${b.length}`);
  }
  if (height <= 2 * SSIM_RADIUS || width <= 2 * SSIM_RADIUS) {
    throw new RangeError(`Expected images larger than ${2 * SSIM_RADIUS}×${2 * SSIM_RADIUS} for SSIM but received ${height}×${width}`);
  }
  const plane = height * width;
  const x = new Float64Array(plane), y = new Float64Array(plane);
  const xx = new Float64Array(plane), yy = new Float64Array(plane), xy = new Float64Array(plane);
  let total = 0, positions = 0;
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < plane; i++) {
      const va = a[i * channels + c]!, vb = b[i * channels + c]!;
      x[i] = va; y[i] = vb; xx[i] = va * va; yy[i] = vb * vb; xy[i] = va * vb;
    }
    const mx = filterValid(x, height, width), my = filterValid(y, height, width);
    const mxx = filterValid(xx, height, width), myy = filterValid(yy, height, width), mxy = filterValid(xy, height, width);
    for (let i = 0; i < mx.length; i++) {
      const ux = mx[i]!, uy = my[i]!;
      const vx = mxx[i]! - ux * ux, vy = myy[i]! - uy * uy, vxy = mxy[i]! - ux * uy;
      total += ((2 * ux * uy + C1) * (2 * vxy + C2)) / ((ux * ux + uy * uy + C1) * (vx + vy + C2));
    }
    positions += mx.length;
  }
  return total / positions;
}

/** Mean PSNR and SSIM over a batch of NHWC u8 image pairs (`count` images each). */
export function batchFidelity(a: Uint8Array, b: Uint8Array, count: number, shape: ImageShape): { psnr: number; ssim: number } {
  const size = shape.height * shape.width * shape.channels;
  if (a.length !== count * size || b.length !== count * size) {
    throw new RangeError(`Expected ${count * size} values per image batch but received ${a.length} and ${b.length}`);
  }
  let psnrSum = 0, ssimSum = 0;
  for (let k = 0; k < count; k++) {
    const ia = a.subarray(k * size, (k + 1) * size), ib = b.subarray(k * size, (k + 1) * size);
    psnrSum += psnr(ia, ib);
    ssimSum += ssim(ia, ib, shape);
  }
  return { psnr: psnrSum / count, ssim: ssimSum / count };
}

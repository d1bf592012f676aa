// A generated image: u8 pixels, HWC (RGB for the glyph model), with PNG encoding and saving through sharp (libvips;
// loaded on first use so importing Ditto stays cheap). Built from model-space NCHW floats with quantize.ts (DiT
// sample.py's u8 convention), or from a Tensor natively off the JS thread (fromTensor, what the pipeline uses).
import { mkdir } from "node:fs/promises";
import path from "node:path";

import { brandClass } from "../brand.js";
import { rangeError, shapeError, typeError } from "../errors.js";
import { native, toDittoError } from "../native.js";
import { Tensor } from "../tensor.js";
import { toUint8NHWC } from "./quantize.js";

type SharpFactory = typeof import("sharp");
let sharpPromise: Promise<SharpFactory> | undefined;

function loadSharp(): Promise<SharpFactory> {
  sharpPromise ??= import("sharp").then((m) => ((m as { default?: SharpFactory }).default ?? m) as SharpFactory);
  return sharpPromise;
}

export class Image {
  /** u8 pixels, row-major HWC. */
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: number;

  constructor(data: Uint8Array, width: number, height: number, channels = 3) {
    if (!(data instanceof Uint8Array)) throw typeError("Uint8Array", "data", data);
    for (const [name, v] of [["width", width], ["height", height]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw rangeError("positive integer", name, v);
    }
    if (![1, 3, 4].includes(channels)) throw rangeError("1, 3 or 4", "channels", channels);
    if (data.length !== width * height * channels) {
      throw rangeError(`${width * height * channels} bytes (${height}×${width}×${channels})`, "data.length", data.length);
    }
    this.data = data;
    this.width = width;
    this.height = height;
    this.channels = channels;
  }

  /** One image per sample from a model-space batch x [N, C, H, W] in [-1, 1]. */
  static fromModelSpace(x: Float32Array, shape: readonly number[]): Image[] {
    const [count, channels, height, width] = shape as [number, number, number, number];
    if (shape.length !== 4) throw rangeError("shape with 4 dimensions [N, C, H, W]", "shape", [...shape]);
    const u8 = toUint8NHWC(x, count, channels, height, width);
    const size = height * width * channels;
    return Array.from({ length: count }, (_, k) => new Image(u8.slice(k * size, (k + 1) * size), width, height, channels));
  }

  /**
   * One image per sample from a model-space Tensor [N, C, H, W] in [-1, 1], converted natively off the JS thread
   * (the same pixels as fromModelSpace; the images are views of one buffer).
   */
  static async fromTensor(x: Tensor): Promise<Image[]> {
    if (!(x instanceof Tensor)) throw typeError("Tensor", "x", x);
    const shape = x.shape;
    if (shape.length !== 4) throw shapeError("shape with 4 dimensions [N, C, H, W]", "x.shape", shape);
    const [count, channels, height, width] = shape as [number, number, number, number];
    if (![1, 3, 4].includes(channels)) throw rangeError("1, 3 or 4 channels", "x.shape[1]", channels);
    const handle = x._handle("x");
    let pixels: Uint8Array;
    try {
      pixels = await native().toUint8NHWC(handle);
    } catch (e) {
      throw toDittoError(e);
    }
    const size = height * width * channels;
    return Array.from({ length: count }, (_, k) => new Image(new Uint8Array(pixels.buffer, pixels.byteOffset + k * size, size), width, height, channels));
  }

  /** PNG bytes (lossless). */
  async toPNG(): Promise<Buffer> {
    const sharp = await loadSharp();
    return sharp(this.data, { raw: { width: this.width, height: this.height, channels: this.channels as 1 | 3 | 4 } })
      .png()
      .toBuffer();
  }

  /** Writes the image; the format follows the extension (.png, .jpg, .webp, …; sharp decides). Creates folders. */
  async save(filePath: string): Promise<void> {
    if (typeof filePath !== "string" || filePath.length === 0) throw typeError("non-empty string", "path", filePath);
    const sharp = await loadSharp();
    await mkdir(path.dirname(path.resolve(filePath)), { recursive: true });
    await sharp(this.data, { raw: { width: this.width, height: this.height, channels: this.channels as 1 | 3 | 4 } })
      .toFile(filePath);
  }

  /** Nearest-neighbour upscale by an integer factor (tiny 32×32 samples are hard to see otherwise). */
  upscale(factor: number): Image {
    if (!Number.isInteger(factor) || factor < 1) throw rangeError("positive integer", "factor", factor);
    if (factor === 1) return this;
    const w = this.width * factor, h = this.height * factor, c = this.channels;
    const out = new Uint8Array(w * h * c);
    for (let y = 0; y < h; y++) {
      const sy = Math.floor(y / factor);
      for (let x = 0; x < w; x++) {
        const src = (sy * this.width + Math.floor(x / factor)) * c;
        out.set(this.data.subarray(src, src + c), (y * w + x) * c);
      }
    }
    return new Image(out, w, h, c);
  }
}

brandClass(Image, "Image");

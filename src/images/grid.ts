// Tiles a batch of equally sized images into one grid image (row-major: image k at row floor(k / columns)), with a
// padding gap in a background colour — the layout of the glyph fixture's samples.png (rows = classes).
import { rangeError } from "../errors.js";
import { Image } from "./image.js";

export interface GridOptions {
  /** Images per row (default: ceil(√count)). */
  columns?: number;
  /** Gap in pixels between and around tiles (default 2). */
  padding?: number;
  /** Gap colour, one value per channel or one for all (default 255: white). */
  background?: number | readonly number[];
}

export function makeGrid(images: readonly Image[], options: GridOptions = {}): Image {
  if (images.length === 0) throw rangeError("at least one image", "images", images);
  const first = images[0]!;
  const { width, height, channels } = first;
  for (const img of images) {
    if (img.width !== width || img.height !== height || img.channels !== channels) {
      throw rangeError(`images all ${width}×${height}×${channels}`, "images", `${img.width}×${img.height}×${img.channels}`);
    }
  }
  const columns = options.columns ?? Math.ceil(Math.sqrt(images.length));
  if (!Number.isInteger(columns) || columns < 1) throw rangeError("positive integer", "columns", columns);
  const padding = options.padding ?? 2;
  if (!Number.isInteger(padding) || padding < 0) throw rangeError("non-negative integer", "padding", padding);
  const rows = Math.ceil(images.length / columns);
  const gridW = columns * width + (columns + 1) * padding;
  const gridH = rows * height + (rows + 1) * padding;
  const bg = options.background ?? 255;
  const fill = Array.from({ length: channels }, (_, c) => (typeof bg === "number" ? bg : bg[c] ?? 255));
  const out = new Uint8Array(gridW * gridH * channels);
  for (let i = 0; i < gridW * gridH; i++) for (let c = 0; c < channels; c++) out[i * channels + c] = fill[c]!;
  images.forEach((img, k) => {
    const x0 = padding + (k % columns) * (width + padding);
    const y0 = padding + Math.floor(k / columns) * (height + padding);
    for (let y = 0; y < height; y++) {
      out.set(img.data.subarray(y * width * channels, (y + 1) * width * channels), ((y0 + y) * gridW + x0) * channels);
    }
  });
  return new Image(out, gridW, gridH, channels);
}

// Video output: a clip's frames (Images of one size) saved as a PNG sequence and an animated WebP, both through
// sharp (libvips), which writes animated WebP from a raw strip of frames stacked vertically with `pageHeight`.
import { mkdir } from "node:fs/promises";
import path from "node:path";

import { rangeError, typeError } from "../errors.js";
import { Image } from "./image.js";

export interface SaveVideoOptions {
  /** Frames per second of the animated WebP (default 16, Wan2.1's rate). */
  fps?: number;
  /** Folder of the PNG sequence (default: `<webp path without .webp>-frames`). */
  framesDir?: string;
}

export interface SavedVideo {
  webp: string;
  frames: string[];
}

/** Writes `frames` as frame-0000.png, frame-0001.png, … and as an animated, looping WebP at `webpPath`. */
export async function saveVideo(frames: readonly Image[], webpPath: string, options: SaveVideoOptions = {}): Promise<SavedVideo> {
  if (!Array.isArray(frames) || frames.length === 0) throw typeError("non-empty array of Image", "frames", frames);
  if (typeof webpPath !== "string" || !webpPath.toLowerCase().endsWith(".webp")) throw typeError("path ending in .webp", "webpPath", webpPath);
  const fps = options.fps ?? 16;
  if (typeof fps !== "number" || !(fps > 0 && fps <= 1000)) throw rangeError("number between 0 and 1000", "options.fps", fps);
  const first = frames[0]!;
  frames.forEach((f, i) => {
    if (!(f instanceof Image)) throw typeError("Image", `frames[${i}]`, f);
    if (f.width !== first.width || f.height !== first.height || f.channels !== first.channels) {
      throw rangeError(`a ${first.width}×${first.height}×${first.channels} frame like frames[0]`, `frames[${i}]`, `${f.width}×${f.height}×${f.channels}`);
    }
  });
  const framesDir = options.framesDir ?? webpPath.replace(/\.webp$/i, "-frames");
  await mkdir(framesDir, { recursive: true });
  await mkdir(path.dirname(path.resolve(webpPath)), { recursive: true });
  const written: string[] = [];
  for (let i = 0; i < frames.length; i++) {
    const file = path.join(framesDir, `frame-${String(i).padStart(4, "0")}.png`);
    await frames[i]!.save(file);
    written.push(file);
  }
  const strip = new Uint8Array(first.data.length * frames.length);
  frames.forEach((f, i) => strip.set(f.data, i * first.data.length));
  const sharp = ((m: any) => m.default ?? m)(await import("sharp"));
  await sharp(strip, { raw: { width: first.width, height: first.height * frames.length, channels: first.channels, pageHeight: first.height } })
    .webp({ loop: 0, delay: frames.map(() => Math.round(1000 / fps)), lossless: true }) // one delay per frame: a scalar only sets the first
    .toFile(webpPath);
  return { webp: webpPath, frames: written };
}

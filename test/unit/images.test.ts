// Images: model-space → u8 conversion, grid layout against a naive per-pixel reference, PNG round trip via sharp.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";

import { Image, makeGrid } from "../../src/images/index.js";

const dir = mkdtempSync(path.join(tmpdir(), "ditto-images-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function randomImage(w: number, h: number, seed: number): Image {
  let s = seed;
  return new Image(Uint8Array.from({ length: w * h * 3 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 24)), w, h, 3);
}

describe("Image", () => {
  it("builds one image per sample from NCHW model space", () => {
    const x = Float32Array.from({ length: 2 * 3 * 2 * 5 }, (_, i) => (i % 7) / 3 - 1);
    const imgs = Image.fromModelSpace(x, [2, 3, 2, 5]);
    expect(imgs).toHaveLength(2);
    // sample 1, pixel (y=1, x=3), channel 2 ← x[1, 2, 1, 3]
    const v = x[((1 * 3 + 2) * 2 + 1) * 5 + 3]!;
    expect(imgs[1]!.data[(1 * 5 + 3) * 3 + 2]).toBe(Math.trunc(Math.fround(Math.fround(127.5 * v) + 128)));
  });

  it("round-trips through PNG losslessly, odd sizes included", async () => {
    const img = randomImage(13, 7, 5);
    const { data, info } = await sharp(await img.toPNG()).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([13, 7, 3]);
    expect(new Uint8Array(data)).toEqual(img.data);
    const file = path.join(dir, "sub", "x.png");
    await img.save(file);
    const meta = await sharp(file).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 13, 7]);
  });

  it("validates its arguments", () => {
    expect(() => new Image(new Uint8Array(5), 2, 1, 3)).toThrow("Expected 6 bytes (1×2×3) for data.length but received 5");
    expect(() => new Image(new Uint8Array(6), 0, 1, 3)).toThrow("Expected positive integer for width but received 0");
  });

  it("upscales by pixel replication", () => {
    const img = randomImage(3, 2, 9).upscale(2);
    expect([img.width, img.height]).toEqual([6, 4]);
    expect(img.data.subarray((3 * 6 + 5) * 3, (3 * 6 + 5) * 3 + 3)).toEqual(randomImage(3, 2, 9).data.subarray(15, 18));
  });
});

describe("makeGrid", () => {
  it("places image k at row k / columns with padding, matching a per-pixel reference", () => {
    const imgs = [1, 2, 3, 4, 5].map((s) => randomImage(5, 3, s));
    const grid = makeGrid(imgs, { columns: 2, padding: 1, background: [10, 20, 30] });
    expect([grid.width, grid.height]).toEqual([2 * 5 + 3, 3 * 3 + 4]);
    for (let y = 0; y < grid.height; y++) for (let x = 0; x < grid.width; x++) {
      const col = Math.floor((x - 1) / 6), row = Math.floor((y - 1) / 4);
      const ix = (x - 1) % 6, iy = (y - 1) % 4;
      const k = row * 2 + col;
      const inside = x >= 1 && y >= 1 && ix < 5 && iy < 3 && col < 2 && k < imgs.length;
      for (let c = 0; c < 3; c++) {
        const expected = inside ? imgs[k]!.data[(iy * 5 + ix) * 3 + c] : [10, 20, 30][c];
        expect(grid.data[(y * grid.width + x) * 3 + c]).toBe(expected);
      }
    }
  });

  it("rejects mixed sizes", () => {
    expect(() => makeGrid([randomImage(2, 2, 1), randomImage(3, 2, 1)])).toThrow("Expected images all 2×2×3 for images");
  });
});

// LatentPipeline end to end on the golden latent DiT (dit-official: 4 latent channels, learned σ → DiT's DDIM) with
// the golden AutoencoderKL as its `vae/` (random weights, so noise pictures: the checks are shapes, finiteness,
// per-sample seeds, that the images are the VAE's decode of the returned latents, and exact errors); Flux's 2×2
// packing round trip; `ditto generate --model DIR` with a vae/ folder and --embeddings through the built CLI.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { writeSafetensors } from "../../src/io/safetensors.js";
import { LatentPipeline, _packing } from "../../src/pipeline/latent.js";
import { Tensor } from "../../src/tensor.js";
import { GLYPHS, GOLDEN, HAS_GLYPHS, REPO_ROOT } from "../shared-paths.js";

const DIT = path.join(GOLDEN, "dit-official");
const VAE = path.join(GOLDEN, "vae-kl");
const HAS_CASES = existsSync(path.join(DIT, "config.json")) && existsSync(path.join(VAE, "config.json"));

describe("Flux latent packing", () => {
  it("packs [B, C, h, w] into 2×2 tokens with channels (c, dy, dx) and back", () => {
    const values = Float32Array.from({ length: 2 * 2 * 4 * 4 }, (_, i) => i);
    const layout = { kind: "packed" as const, shape: [2, 2, 4, 4], modelShape: [2, 4, 8] };
    const packed = _packing.toModelLayout(Tensor.from(values, [2, 2, 4, 4]), layout);
    expect(packed.shape).toEqual([2, 4, 8]);
    // token 1 of sample 0 = rows 0–1, cols 2–3: channel 0 then channel 1, each (dy, dx) row-major.
    expect([...packed.toFloat32Array().subarray(8, 16)]).toEqual([2, 3, 6, 7, 18, 19, 22, 23]);
    expect([..._packing.fromModelLayout(packed, layout).toFloat32Array()]).toEqual([...values]);
  });
});

describe.skipIf(!HAS_CASES)("LatentPipeline (golden DiT + golden VAE)", () => {
  const tmp = mkdtempSync(path.join(tmpdir(), "ditto-latent-"));
  let pipe: LatentPipeline;
  beforeAll(async () => {
    for (const f of ["model.safetensors", "config.json"]) symlinkSync(path.join(DIT, f), path.join(tmp, f));
    mkdirSync(path.join(tmp, "vae"));
    for (const f of ["model.safetensors", "config.json"]) symlinkSync(path.join(VAE, f), path.join(tmp, "vae", f));
    pipe = await LatentPipeline.load(tmp, { threads: 2 });
  });
  afterAll(() => {
    pipe?.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("generates images from noise through the family's sampler and the VAE", async () => {
    expect(pipe.family).toBe("dit");
    const steps: number[] = [];
    const result = await pipe.generate({ conditions: [3, 10], steps: 4, seed: 7, onStep: (e) => steps.push(e.step) });
    expect(steps).toEqual([1, 2, 3, 4]);
    expect(result.latents.shape).toEqual([2, 4, 16, 16]);
    expect(result.latents.countNonFinite()).toBe(0);
    expect(result.images!.map((im) => [im.width, im.height, im.channels])).toEqual([[32, 32, 3], [32, 32, 3]]);
    const again = await pipe.vae!.decodeImages(result.latents);
    expect(Buffer.from(again[1]!.data).equals(Buffer.from(result.images![1]!.data))).toBe(true);
    // Sample k uses seed + k: the second sample alone with seed 8 is the same picture.
    const alone = await pipe.generate({ conditions: [10], steps: 4, seed: 8 });
    expect(Buffer.from(alone.images![0]!.data).equals(Buffer.from(result.images![1]!.data))).toBe(true);
    expect(Buffer.from(result.images![0]!.data).equals(Buffer.from(result.images![1]!.data))).toBe(false);
  });

  it("refuses sizes the model cannot take and a VAE of the wrong latent width", async () => {
    await expect(pipe.generate({ height: 64, steps: 1 })).rejects.toThrow("Expected 32 (the model's fixed size) for height but received 64");
    await expect(pipe.generate({ width: 33, steps: 1 })).rejects.toThrow("Expected a positive multiple of 2 (the VAE's downscale) for width but received 33");
    await expect(pipe.generate({ frames: 3, steps: 1 })).rejects.toThrow("Expected 1 (an image model) for frames but received 3");
    if (HAS_GLYPHS) {
      const glyphs = await LatentPipeline.load(GLYPHS, { vae: pipe.vae, threads: 1 });
      expect(() => glyphs.layout(1)).toThrow("Expected a VAE with 3 latent channels (the model's input channels) for vae.latentChannels but received 4");
      glyphs.dispose();
      expect(pipe.vae!.disposed).toBe(false); // a Vae passed in stays the caller's
    }
  });

  it.skipIf(!existsSync(path.join(REPO_ROOT, "dist/cli.js")))("ditto generate --model DIR (vae/ inside) --embeddings FILE", () => {
    const labels = path.join(tmp, "labels.safetensors");
    writeSafetensors(labels, { labels: { dtype: "I64", shape: [2], data: new BigInt64Array([1n, 2n]) } });
    const out = path.join(tmp, "out", "x.png");
    const run = spawnSync(process.execPath, [path.join(REPO_ROOT, "dist/cli.js"), "generate", "--model", tmp, "--embeddings", labels, "--steps", "2", "--threads", "2", "--out", out, "--json"], { encoding: "utf8", timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
    expect(summary).toMatchObject({ family: "dit", latents: [2, 4, 16, 16] });
    expect(summary.files.map((f: string) => path.basename(f))).toEqual(["x-0.png", "x-1.png"]);
    for (const f of summary.files) expect(existsSync(f)).toBe(true);
  });
});

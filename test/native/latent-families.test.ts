// The latent pipeline end to end for every family's tiny golden model with the golden AutoencoderKL as its vae/
// (random weights: noise pictures; the checks are shapes, finite latents, saved files): PixArt (text + mask, learned
// σ → ε half), Wan (video latents → frames, PNG sequence + animated WebP), Flux (packed 2×2 latents, ids and guidance
// filled in), and SD3's refusal of a VAE with the wrong latent width (its golden model has 8 latent channels).
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";

import { saveVideo } from "../../src/images/video.js";
import { readSafetensors, toFloat32Array } from "../../src/io/safetensors.js";
import { LatentPipeline } from "../../src/pipeline/latent.js";
import { Tensor } from "../../src/tensor.js";
import { GOLDEN } from "../shared-paths.js";

const VAE = path.join(GOLDEN, "vae-kl");
const tmp = mkdtempSync(path.join(tmpdir(), "ditto-families-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function has(name: string): boolean {
  return existsSync(path.join(GOLDEN, name, "config.json")) && existsSync(path.join(VAE, "config.json"));
}

/** A model folder: the golden case's transformer + the golden VAE as vae/. */
function modelDir(name: string): string {
  const dir = path.join(tmp, name);
  mkdirSync(path.join(dir, "vae"), { recursive: true });
  for (const f of ["model.safetensors", "config.json"]) symlinkSync(path.join(GOLDEN, name, f), path.join(dir, f));
  for (const f of ["model.safetensors", "config.json"]) symlinkSync(path.join(VAE, f), path.join(dir, "vae", f));
  return dir;
}

function ioTensor(name: string, tensor: string): Tensor {
  const t = readSafetensors(path.join(GOLDEN, name, "io.safetensors")).tensors.get(tensor)!;
  return Tensor.from(toFloat32Array(t), t.shape);
}

describe.skipIf(!has("pixart"))("PixArt latent pipeline", () => {
  it("text embeddings + mask → images", async () => {
    using pipe = await LatentPipeline.load(modelDir("pixart"), { threads: 2 });
    expect(pipe.family).toBe("pixart");
    const conditions = { encoderHiddenStates: ioTensor("pixart", "encoder_hidden_states"), encoderAttentionMask: ioTensor("pixart", "encoder_attention_mask") };
    const result = await pipe.generate({ conditions, steps: 2, height: 32, width: 32 });
    expect(result.latents.shape).toEqual([2, 4, 16, 16]);
    expect(result.latents.countNonFinite()).toBe(0);
    expect(result.images!.map((im) => [im.width, im.height])).toEqual([[32, 32], [32, 32]]);
  });
});

describe.skipIf(!has("wan"))("Wan latent pipeline", () => {
  it("video latents → frames, saved as PNGs + an animated WebP", async () => {
    using pipe = await LatentPipeline.load(modelDir("wan"), { threads: 2 });
    expect(pipe.family).toBe("wan");
    const frames: number[] = [];
    const result = await pipe.generate({ conditions: { encoderHiddenStates: ioTensor("wan", "encoder_hidden_states") }, steps: 2, height: 16, width: 16, frames: 3, onFrame: (e) => frames.push(e.done) });
    expect(result.latents.shape).toEqual([1, 4, 3, 8, 8]);
    expect(result.latents.countNonFinite()).toBe(0);
    expect(frames).toEqual([1, 2, 3]);
    expect(result.frames!.length).toBe(1);
    const saved = await saveVideo(result.frames![0]!, path.join(tmp, "wan.webp"));
    expect(saved.frames).toHaveLength(3);
    expect(await sharp(saved.webp, { animated: true }).metadata()).toMatchObject({ pages: 3, width: 16, pageHeight: 16 });
  });
});

describe.skipIf(!has("flux"))("Flux latent pipeline", () => {
  it("packed latents with ids and guidance filled in → images", async () => {
    using pipe = await LatentPipeline.load(modelDir("flux"), { threads: 2 });
    expect(pipe.family).toBe("flux");
    const conditions = { encoderHiddenStates: ioTensor("flux", "encoder_hidden_states"), pooledProjections: ioTensor("flux", "pooled_projections") };
    const result = await pipe.generate({ conditions, steps: 2, height: 16, width: 16 });
    expect(result.latents.shape).toEqual([2, 4, 8, 8]);
    expect(result.latents.countNonFinite()).toBe(0);
    expect(result.images!.map((im) => [im.width, im.height])).toEqual([[16, 16], [16, 16]]);
  });
});

describe.skipIf(!has("sd3"))("SD3 latent pipeline", () => {
  it("refuses a VAE whose latent width is not the model's", async () => {
    using pipe = await LatentPipeline.load(modelDir("sd3"), { threads: 2 });
    expect(pipe.family).toBe("sd3");
    expect(() => pipe.layout(1, { height: 32, width: 32 })).toThrow("Expected a VAE with 8 latent channels (the model's input channels) for vae.latentChannels but received 4");
  });
});

// The latent pipeline end to end for every family's tiny golden model (random weights: noise pictures; the checks are
// shapes, finite latents, saved files), each loaded through Pipeline.load from a folder with a vae/: PixArt (text +
// mask, learned σ → ε half), Wan (video latents → frames, PNG sequence + animated WebP), Flux (packed 2×2 latents,
// ids and guidance filled in) with the golden AutoencoderKL; SD3 (8 latent channels) with an SD3-style VAE built
// here — the golden VAE's blocks with random latent-side convolutions for 8 channels, no quant convs, SD3's scaling
// and shift factors — written to a temporary folder (never committed); SD3's refusal of the 4-channel VAE; and
// `ditto generate --model DIR --embeddings FILE --vae DIR` for SD3 through the built CLI.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";

import { saveVideo } from "../../src/images/video.js";
import { readSafetensors, toFloat32Array, writeSafetensors, type SafetensorsTensorInput } from "../../src/io/safetensors.js";
import { LatentPipeline } from "../../src/pipeline/latent.js";
import { Pipeline } from "../../src/pipeline/pipeline.js";
import { Tensor } from "../../src/tensor.js";
import { GOLDEN, REPO_ROOT } from "../shared-paths.js";

const VAE = path.join(GOLDEN, "vae-kl");
const tmp = mkdtempSync(path.join(tmpdir(), "ditto-families-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function has(name: string): boolean {
  return existsSync(path.join(GOLDEN, name, "config.json")) && existsSync(path.join(VAE, "config.json"));
}

/** A model folder: the golden case's transformer + a VAE folder (default the golden VAE) as vae/. */
function modelDir(name: string, vae = VAE): string {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const f of ["model.safetensors", "config.json"]) symlinkSync(path.join(GOLDEN, name, f), path.join(dir, f));
  symlinkSync(vae, path.join(dir, "vae"));
  return dir;
}

/** Loads `dir` with Pipeline.load and checks it picked the latent pipeline of `family` with a VAE. */
async function latentPipeline(dir: string, family: string): Promise<LatentPipeline> {
  const pipe = await Pipeline.load({ model: dir, threads: 2 });
  if (pipe.kind !== "latent") throw new Error(`expected a latent pipeline, got ${pipe.kind}`);
  expect([pipe.family, pipe.hasVae]).toEqual([family, true]);
  return pipe;
}

/** Saves the images as PNGs and checks each file decodes at the image's size. */
async function savePngs(images: readonly { width: number; height: number; save(p: string): Promise<void> }[], stem: string): Promise<void> {
  for (const [k, image] of images.entries()) {
    const file = path.join(tmp, `${stem}-${k}.png`);
    await image.save(file);
    expect(statSync(file).size).toBeGreaterThan(0);
    expect(await sharp(file).metadata()).toMatchObject({ format: "png", width: image.width, height: image.height });
  }
}

/** Deterministic N(0, σ²) values (Box–Muller over a 32-bit LCG) for the built VAE's random tensors. */
function randomNormal(count: number, sigma: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const uniform = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = sigma * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

/** An SD3-style AutoencoderKL with `latent` channels: the golden VAE's tensors, its latent-side convolutions redrawn
 * at random for the new width (encoder.conv_out → 2·latent moments, decoder.conv_in ← latent), without quant_conv /
 * post_quant_conv (SD3's VAE has none), SD3's scaling 1.5305 and shift 0.0609. Written under the test's temp folder. */
function sd3StyleVae(latent: number): string {
  const dir = path.join(tmp, `vae-${latent}ch`);
  mkdirSync(dir, { recursive: true });
  const golden = readSafetensors(path.join(VAE, "model.safetensors")).tensors;
  const tensors: Record<string, SafetensorsTensorInput> = {};
  for (const [name, t] of golden) {
    if (name.includes("quant_conv.")) continue;
    tensors[name] = { dtype: "F32", shape: t.shape, data: toFloat32Array(t) };
  }
  const width = golden.get("encoder.conv_out.weight")!.shape[1]!; // the encoder's last block width
  const decoderWidth = golden.get("decoder.conv_in.weight")!.shape[0]!;
  const conv = (shape: number[], seed: number): SafetensorsTensorInput => ({ dtype: "F32", shape, data: randomNormal(shape.reduce((a, b) => a * b, 1), 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1)), seed) });
  tensors["encoder.conv_out.weight"] = conv([2 * latent, width, 3, 3], 1);
  tensors["encoder.conv_out.bias"] = { dtype: "F32", shape: [2 * latent], data: new Float32Array(2 * latent) };
  tensors["decoder.conv_in.weight"] = conv([decoderWidth, latent, 3, 3], 2);
  tensors["decoder.conv_in.bias"] = { dtype: "F32", shape: [decoderWidth], data: new Float32Array(decoderWidth) };
  writeSafetensors(path.join(dir, "diffusion_pytorch_model.safetensors"), tensors);
  const config = JSON.parse(readFileSync(path.join(VAE, "config.json"), "utf8")).full_config;
  Object.assign(config, { _class_name: "AutoencoderKL", latent_channels: latent, use_quant_conv: false, use_post_quant_conv: false, scaling_factor: 1.5305, shift_factor: 0.0609 });
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
  return dir;
}

function ioTensor(name: string, tensor: string): Tensor {
  const t = readSafetensors(path.join(GOLDEN, name, "io.safetensors")).tensors.get(tensor)!;
  return Tensor.from(toFloat32Array(t), t.shape);
}

describe.skipIf(!has("pixart"))("PixArt latent pipeline", () => {
  it("text embeddings + mask → images", async () => {
    using pipe = await latentPipeline(modelDir("pixart"), "pixart");
    const conditions = { encoderHiddenStates: ioTensor("pixart", "encoder_hidden_states"), encoderAttentionMask: ioTensor("pixart", "encoder_attention_mask") };
    const result = await pipe.generate({ conditions, steps: 2, height: 32, width: 32 });
    expect(result.latents.shape).toEqual([2, 4, 16, 16]);
    expect(result.latents.countNonFinite()).toBe(0);
    expect(result.images!.map((im) => [im.width, im.height])).toEqual([[32, 32], [32, 32]]);
    await savePngs(result.images!, "pixart");
  });
});

describe.skipIf(!has("pixart") || !existsSync(path.join(REPO_ROOT, "dist/cli.js")))("ditto generate without a VAE", () => {
  it("writes the final latents as a .safetensors", () => {
    const embeddings = path.join(tmp, "pixart-prompt.safetensors");
    const io = readSafetensors(path.join(GOLDEN, "pixart", "io.safetensors")).tensors;
    const f32 = (key: string) => ({ dtype: "F32" as const, shape: io.get(key)!.shape, data: toFloat32Array(io.get(key)!) });
    writeSafetensors(embeddings, { encoderHiddenStates: f32("encoder_hidden_states"), encoderAttentionMask: f32("encoder_attention_mask") });
    const out = path.join(tmp, "cli", "pixart-latents.safetensors");
    const cli = path.join(REPO_ROOT, "dist/cli.js");
    const run = spawnSync(process.execPath, [cli, "generate", "--model", path.join(GOLDEN, "pixart"), "--embeddings", embeddings, "--height", "64", "--width", "64", "--steps", "2", "--threads", "2", "--out", out, "--json"], { encoding: "utf8", timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split("\n").at(-1)!)).toEqual({ family: "pixart", latents: [2, 4, 8, 8], files: [out] });
    const latents = readSafetensors(out).tensors.get("latents")!;
    expect(latents.shape).toEqual([2, 4, 8, 8]);
    expect(toFloat32Array(latents).every(Number.isFinite)).toBe(true);
    const png = spawnSync(process.execPath, [cli, "generate", "--model", path.join(GOLDEN, "pixart"), "--embeddings", embeddings, "--out", path.join(tmp, "x.png")], { encoding: "utf8", timeout: 120_000 });
    expect(png.status).toBe(64);
    expect(png.stderr).toContain(`ditto generate: --out expects a file ending in .safetensors but received ${path.join(tmp, "x.png")}`);
  });
});

describe.skipIf(!has("wan"))("Wan latent pipeline", () => {
  it("video latents → frames, saved as PNGs + an animated WebP", async () => {
    using pipe = await latentPipeline(modelDir("wan"), "wan");
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
    using pipe = await latentPipeline(modelDir("flux"), "flux");
    const conditions = { encoderHiddenStates: ioTensor("flux", "encoder_hidden_states"), pooledProjections: ioTensor("flux", "pooled_projections") };
    const result = await pipe.generate({ conditions, steps: 2, height: 16, width: 16 });
    expect(result.latents.shape).toEqual([2, 4, 8, 8]);
    expect(result.latents.countNonFinite()).toBe(0);
    expect(result.images!.map((im) => [im.width, im.height])).toEqual([[16, 16], [16, 16]]);
    await savePngs(result.images!, "flux");
  });
});

describe.skipIf(!has("sd3"))("SD3 latent pipeline", () => {
  it("text embeddings + pooled projections → images through an 8-channel SD3-style VAE", async () => {
    using pipe = await latentPipeline(modelDir("sd3", sd3StyleVae(8)), "sd3");
    expect(pipe.vae!.config).toMatchObject({ latentChannels: 8, scalingFactor: 1.5305, shiftFactor: 0.0609 });
    const conditions = { encoderHiddenStates: ioTensor("sd3", "encoder_hidden_states"), pooledProjections: ioTensor("sd3", "pooled_projections") };
    const batch = conditions.encoderHiddenStates.shape[0]!;
    const result = await pipe.generate({ conditions, steps: 2, height: 16, width: 16 });
    expect(result.latents.shape).toEqual([batch, 8, 8, 8]);
    expect(result.latents.countNonFinite()).toBe(0);
    expect(result.images!.map((im) => [im.width, im.height])).toEqual(Array.from({ length: batch }, () => [16, 16]));
    await savePngs(result.images!, "sd3");
  });

  it.skipIf(!existsSync(path.join(REPO_ROOT, "dist/cli.js")))("ditto generate --model DIR --embeddings FILE --vae DIR", () => {
    const cli = path.join(REPO_ROOT, "dist/cli.js");
    const embeddings = path.join(tmp, "sd3-prompt.safetensors");
    const io = readSafetensors(path.join(GOLDEN, "sd3", "io.safetensors")).tensors;
    writeSafetensors(embeddings, {
      encoderHiddenStates: { dtype: "F32", shape: io.get("encoder_hidden_states")!.shape, data: toFloat32Array(io.get("encoder_hidden_states")!) },
      pooledProjections: { dtype: "F32", shape: io.get("pooled_projections")!.shape, data: toFloat32Array(io.get("pooled_projections")!) },
    });
    const out = path.join(tmp, "cli", "sd3.png");
    const model = path.join(GOLDEN, "sd3");
    const run = spawnSync(process.execPath, [cli, "generate", "--model", model, "--embeddings", embeddings, "--vae", sd3StyleVae(8), "--height", "16", "--width", "16", "--steps", "2", "--threads", "2", "--out", out, "--json"], { encoding: "utf8", timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
    expect(summary).toMatchObject({ family: "sd3", latents: [2, 8, 8, 8] });
    for (const f of summary.files) expect(existsSync(f)).toBe(true);
    // A folder without the class-label fixture's dit.json goes to the latent pipeline, which names the conditions.
    const bare = spawnSync(process.execPath, [cli, "generate", "--model", model, "--steps", "1", "--threads", "1", "--out", path.join(tmp, "cli", "sd3.safetensors")], { encoding: "utf8", timeout: 120_000 });
    expect(bare.status).toBe(1);
    expect(bare.stderr).toContain("Expected an object of condition tensors (encoderHiddenStates, pooledProjections) for options.conditions but received undefined");
  });

  it("refuses a VAE whose latent width is not the model's", async () => {
    using pipe = await LatentPipeline.load(path.join(GOLDEN, "sd3"), { vae: VAE, threads: 2 });
    expect(pipe.family).toBe("sd3");
    expect(() => pipe.layout(1, { height: 32, width: 32 })).toThrow("Expected a VAE with 8 latent channels (the model's input channels) for vae.latentChannels but received 4");
  });
});

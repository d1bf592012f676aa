// Pipeline.load picks the pipeline from the checkpoint (src/pipeline/pipeline.ts, docs/models.md "One entry
// point"): the class-label DiT fixture → Pipeline; the tiny golden PixArt / SD3 / Flux / Wan folders → LatentPipeline
// (latents only without a VAE); a diffusers pipeline folder (transformer/ + vae/) → LatentPipeline with its VAE; a
// DiT with a VAE → the latent pipeline; `kind` types and checks the result; an unknown family → ERR_UNSUPPORTED_MODEL;
// and the refusals docs/models.md lists (Wan's 3-D VAE, sharded checkpoints, a text family without conditions).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { writeSafetensors } from "../../src/io/safetensors.js";
import { loadModel } from "../../src/model.js";
import { LatentPipeline } from "../../src/pipeline/latent.js";
import { Pipeline } from "../../src/pipeline/pipeline.js";
import { loadVae } from "../../src/vae.js";
import { GLYPHS, GOLDEN, HAS_GLYPHS, HAS_GOLDEN } from "../shared-paths.js";

const tmp = mkdtempSync(path.join(tmpdir(), "ditto-pipeline-load-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function link(from: string, to: string, files = ["model.safetensors", "config.json"]): string {
  mkdirSync(to, { recursive: true });
  for (const f of files) symlinkSync(path.join(from, f), path.join(to, f));
  return to;
}

describe.skipIf(!HAS_GLYPHS)("Pipeline.load on the class-label DiT", () => {
  it("gives the class-conditional Pipeline, or the latent one when asked", async () => {
    await using pipe = await Pipeline.load({ model: GLYPHS, threads: 1 });
    expect(pipe.kind).toBe("class-conditional");
    expect(pipe).toBeInstanceOf(Pipeline);
    await using latent = await Pipeline.load({ model: GLYPHS, kind: "latent", threads: 1 });
    expect(latent).toBeInstanceOf(LatentPipeline);
    expect([latent.family, latent.hasVae, latent.vae]).toEqual(["dit", false, undefined]);
  });
});

describe.skipIf(!HAS_GOLDEN)("Pipeline.load on the golden families", () => {
  it.each([
    ["pixart", [1, 4, 8, 8]],
    ["sd3", [1, 8, 8, 8]],
    ["flux", [1, 4, 8, 8]],
    ["wan", [1, 4, 2, 8, 8]],
  ])("%s: a folder without a VAE → LatentPipeline returning latents only", async (family, shape) => {
    await using pipe = await Pipeline.load({ model: path.join(GOLDEN, family), threads: 1 });
    expect(pipe.kind).toBe("latent");
    if (pipe.kind !== "latent") return;
    expect([pipe.family, pipe.hasVae]).toEqual([family, false]);
    // Sizes in pixels at the families' 8× VAE downscale.
    expect(pipe.layout(1, { height: 64, width: 64, frames: family === "wan" ? 2 : undefined }).shape).toEqual(shape);
  });

  it("a diffusers pipeline folder (transformer/ + vae/) → LatentPipeline with its VAE", async () => {
    const dir = path.join(tmp, "flux-pipeline");
    link(path.join(GOLDEN, "flux"), path.join(dir, "transformer"));
    link(path.join(GOLDEN, "vae-kl"), path.join(dir, "vae"));
    await using pipe = await Pipeline.load({ model: dir, kind: "latent", threads: 1 });
    expect([pipe.family, pipe.hasVae, pipe.vae!.config.latentChannels]).toEqual(["flux", true, 4]);
    expect(pipe.layout(1, { height: 16, width: 16 }).modelShape).toEqual([1, 16, 16]);
  });

  it("a DiT with a VAE (given, or as vae/) → the latent pipeline", async () => {
    const dir = link(path.join(GOLDEN, "dit-official"), path.join(tmp, "dit-with-vae"));
    link(path.join(GOLDEN, "vae-kl"), path.join(dir, "vae"));
    await using viaFolder = await Pipeline.load({ model: dir, threads: 1 });
    expect([viaFolder.kind, viaFolder.family]).toEqual(["latent", "dit"]);
    await using viaOption = await Pipeline.load({ model: path.join(GOLDEN, "dit-official"), vae: path.join(GOLDEN, "vae-kl"), threads: 1 });
    expect(viaOption.kind).toBe("latent");
    await using plain = await Pipeline.load({ model: path.join(GOLDEN, "dit-official"), threads: 1 });
    expect(plain.kind).toBe("class-conditional");
  });

  it("a loaded Model is wrapped, not owned", async () => {
    const model = await loadModel(path.join(GOLDEN, "pixart"), { threads: 1 });
    const pipe = await Pipeline.load({ model });
    expect(pipe.kind).toBe("latent");
    await pipe[Symbol.asyncDispose]();
    expect(model.disposed).toBe(false);
    model.dispose();
  });

  it("refuses a kind the checkpoint cannot give, and a VAE for the class-label pipeline", async () => {
    await expect(Pipeline.load({ model: path.join(GOLDEN, "sd3"), kind: "class-conditional", threads: 1 })).rejects.toThrow(
      new RangeError("Expected a class-conditional checkpoint (dit) for options.kind 'class-conditional' but received a sd3 checkpoint"),
    );
    await expect(Pipeline.load({ model: path.join(GOLDEN, "sd3"), kind: "diffusion" as never })).rejects.toThrow(
      new TypeError("Expected 'class-conditional' or 'latent' for options.kind but received \"diffusion\""),
    );
    await expect(Pipeline.load({ model: path.join(GOLDEN, "dit-official"), kind: "class-conditional", vae: "x" })).rejects.toThrow(
      new RangeError("Expected no VAE (a class-conditional pipeline has none) for options.vae but received \"x\""),
    );
  });
});

describe("Pipeline.load on an unknown family", () => {
  it("rejects with ERR_UNSUPPORTED_MODEL naming the tensors", async () => {
    const dir = path.join(tmp, "unknown");
    mkdirSync(dir);
    writeSafetensors(path.join(dir, "model.safetensors"), { "encoder.layers.0.weight": { dtype: "F32", shape: [2, 2], data: new Float32Array(4) } });
    const err = await Pipeline.load({ model: dir, threads: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERR_UNSUPPORTED_MODEL" });
    const file = path.join(dir, "model.safetensors");
    expect((err as Error).message.startsWith(`Unsupported model: no family recognises ${file} (`)).toBe(true);
    expect((err as Error).message).toContain("; unmatched tensors: encoder.layers.0.weight;");
  });
});

describe("what is refused (docs/models.md)", () => {
  const tiny = { "decoder.conv_in.weight": { dtype: "F32" as const, shape: [2, 2], data: new Float32Array(4) } };

  it("Wan2.1's 3-D causal VAE", async () => {
    const dir = path.join(tmp, "wan-vae");
    mkdirSync(dir);
    writeSafetensors(path.join(dir, "diffusion_pytorch_model.safetensors"), tiny);
    writeFileSync(path.join(dir, "config.json"), JSON.stringify({ _class_name: "AutoencoderKLWan", z_dim: 16 }));
    const err = await loadVae(dir).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "ERR_UNSUPPORTED_MODEL",
      message: `VAE config ${path.join(dir, "config.json")}: AutoencoderKLWan is not supported (only AutoencoderKL; 3-D video VAEs such as AutoencoderKLWan are not)`,
    });
  });

  it("a sharded checkpoint", async () => {
    const dir = path.join(tmp, "sharded");
    mkdirSync(dir);
    for (const k of [1, 2]) writeSafetensors(path.join(dir, `diffusion_pytorch_model-0000${k}-of-00002.safetensors`), tiny);
    const err = await Pipeline.load({ model: dir, threads: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERR_MODEL_LOAD" });
    const message = (err as Error).message;
    expect(message.startsWith(`Several weight files in "${dir}" (`)).toBe(true);
    expect(message.endsWith("): name one, or provide model.safetensors")).toBe(true);
    expect(message).toContain("diffusion_pytorch_model-00002-of-00002.safetensors");
  });

  it.skipIf(!HAS_GOLDEN)("a text family without its conditions", async () => {
    await using pipe = await Pipeline.load({ model: path.join(GOLDEN, "pixart"), kind: "latent", threads: 1 });
    await expect(pipe.generate({ steps: 1 })).rejects.toThrow(
      new TypeError("Expected an object of condition tensors (encoderHiddenStates, encoderAttentionMask) for options.conditions but received undefined"),
    );
  });
});

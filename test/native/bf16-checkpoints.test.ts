// bf16 checkpoints stay bf16 unless f32 is requested (issue 20, "Memory and speed"; src/io/checkpointDType.ts): each
// tiny golden family (DiT, PixArt, SD3, Flux, Wan) and the golden AutoencoderKL re-written with bf16 weights in a
// temporary folder loads as dtype 'bf16' by default — packed as bf16 (half the weight bytes) where the CPU has
// bf16 GEMMs — and as 'f32' when asked; f32 checkpoints stay f32; a bf16 load computes close to the widened one.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { info } from "../../src/info.js";
import { storedWeightsDType, weightsFile } from "../../src/io/checkpointDType.js";
import { readSafetensors, toFloat32Array, writeSafetensors, type SafetensorsTensorInput } from "../../src/io/safetensors.js";
import { loadModel } from "../../src/model.js";
import { Pipeline } from "../../src/pipeline/pipeline.js";
import { Tensor } from "../../src/tensor.js";
import { loadVae } from "../../src/vae.js";
import { GOLDEN, HAS_GOLDEN } from "../shared-paths.js";

const tmp = mkdtempSync(path.join(tmpdir(), "ditto-bf16-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** f32 → bf16 bits, round to nearest even (as torch's .to(torch.bfloat16) for finite values). */
function toBf16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(Float32Array.from(values).buffer);
  const out = new Uint16Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = (bits[i]! + 0x7fff + ((bits[i]! >>> 16) & 1)) >>> 16;
  return out;
}

/** The golden case `name` with its floating-point tensors stored as bf16 (`matricesOnly`: rank ≥ 2 only, the
 * biases and norm scales left f32, as mixed checkpoints are). */
function bf16Copy(name: string, matricesOnly = false): string {
  const dir = path.join(tmp, name + (matricesOnly ? "-mixed" : ""));
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, SafetensorsTensorInput> = {};
  for (const [key, t] of readSafetensors(path.join(GOLDEN, name, "model.safetensors")).tensors) {
    const widen = t.dtype === "F32" && (!matricesOnly || t.shape.length >= 2);
    tensors[key] = widen ? { dtype: "BF16", shape: t.shape, data: toBf16(toFloat32Array(t)) } : { dtype: t.dtype, shape: t.shape, data: t.data };
  }
  writeSafetensors(path.join(dir, "model.safetensors"), tensors);
  copyFileSync(path.join(GOLDEN, name, "config.json"), path.join(dir, "config.json"));
  return dir;
}

// The packers store bf16 weights as bf16 pairs only on ISAs with bf16 GEMMs (docs/numerics.md); elsewhere they hold
// f32 values rounded to bf16, the same bytes as f32.
const PACKS_BF16 = ["avx512bf16", "amx"].includes(info().isa);

describe.skipIf(!HAS_GOLDEN)("bf16 checkpoints", () => {
  it.each(["dit-official", "pixart", "sd3", "flux", "wan"])("%s: loads as bf16 by default, f32 on request", async (name) => {
    const dir = bf16Copy(name);
    expect(storedWeightsDType(weightsFile(dir, ["model.safetensors"]))).toBe("bf16");
    using kept = await loadModel(dir, { threads: 1 });
    using widened = await loadModel(dir, { threads: 1, dtype: "f32" });
    using golden = await loadModel(path.join(GOLDEN, name), { threads: 1 });
    expect([kept.dtype, widened.dtype, golden.dtype]).toEqual(["bf16", "f32", "f32"]);
    expect(widened.memoryBytes).toBe(golden.memoryBytes);
    if (PACKS_BF16) expect(kept.memoryBytes).toBeLessThan(0.6 * widened.memoryBytes);
    else expect(kept.memoryBytes).toBe(widened.memoryBytes);
  });

  it("the AutoencoderKL too", async () => {
    const dir = bf16Copy("vae-kl");
    using kept = await loadVae(dir, { threads: 1 });
    using widened = await loadVae(dir, { threads: 1, dtype: "f32" });
    using golden = await loadVae(path.join(GOLDEN, "vae-kl"), { threads: 1 });
    expect([kept.dtype, widened.dtype, golden.dtype]).toEqual(["bf16", "f32", "f32"]);
    expect(widened.memoryBytes).toBe(golden.memoryBytes);
    if (PACKS_BF16) expect(kept.memoryBytes).toBeLessThan(0.6 * widened.memoryBytes);
    else expect(kept.memoryBytes).toBe(widened.memoryBytes);
  });

  it("bf16 matrices with f32 biases count as bf16; a bf16 forward stays close to the widened one", async () => {
    const dir = bf16Copy("pixart", true);
    expect(storedWeightsDType(path.join(dir, "model.safetensors"))).toBe("bf16");
    const io = readSafetensors(path.join(GOLDEN, "pixart", "io.safetensors")).tensors;
    const tensor = (key: string) => Tensor.from(toFloat32Array(io.get(key)!), io.get(key)!.shape);
    const conditions = { encoderHiddenStates: tensor("encoder_hidden_states"), encoderAttentionMask: tensor("encoder_attention_mask") };
    const t = toFloat32Array(io.get("timestep")!);
    const run = async (dtype: "f32" | "bf16" | undefined) => {
      using model = await loadModel(dir, { threads: 1, dtype });
      return { dtype: model.dtype, out: (await model.forward(tensor("hidden_states"), t, conditions)).toFloat32Array() };
    };
    const kept = await run(undefined), widened = await run("f32");
    expect([kept.dtype, widened.dtype]).toEqual(["bf16", "f32"]);
    let diff = 0, scale = 0;
    for (let i = 0; i < kept.out.length; i++) {
      diff = Math.max(diff, Math.abs(kept.out[i]! - widened.out[i]!));
      scale = Math.max(scale, Math.abs(widened.out[i]!));
    }
    expect(diff).toBeGreaterThan(0); // really the bf16 path (activations rounded too)
    expect(diff).toBeLessThan(0.05 * scale);
  });

  it("Pipeline.load passes the rule to the model and its VAE", async () => {
    const dir = bf16Copy("flux");
    await using kept = await Pipeline.load({ model: dir, vae: bf16Copy("vae-kl"), kind: "latent", threads: 1 });
    expect([kept.model.dtype, kept.vae!.dtype]).toEqual(["bf16", "bf16"]);
    await using widened = await Pipeline.load({ model: dir, vae: path.join(tmp, "vae-kl"), kind: "latent", dtype: "f32", threads: 1 });
    expect([widened.model.dtype, widened.vae!.dtype]).toEqual(["f32", "f32"]);
  });
});

// loadVae / Vae through the addon on ../shared/golden/vae-kl (diffusers AutoencoderKL, random weights): `ditto verify`
// passes every output (encoder/decoder intermediates, posterior, out, recon) through the API and the CLI; the
// latent scaling formulas; video latents decoded frame by frame (progress, each frame = its own 2-D decode) and
// saved as a PNG sequence + animated WebP; exact errors for bad inputs, aborts, disposal and bad folders.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { DittoError } from "../../src/errors.js";
import { saveVideo } from "../../src/images/video.js";
import { readSafetensors, toFloat32Array } from "../../src/io/safetensors.js";
import { Tensor } from "../../src/tensor.js";
import { loadVae, type Vae } from "../../src/vae.js";
import { verifyCase } from "../../src/verify/index.js";
import { GOLDEN, REPO_ROOT } from "../shared-paths.js";
import { rejection } from "../native-async.js";

const CASE = path.join(GOLDEN, "vae-kl");
const HAS_CASE = existsSync(path.join(CASE, "config.json"));

describe.skipIf(!HAS_CASE)("AutoencoderKL (golden vae-kl)", () => {
  let vae: Vae;
  const tmp = mkdtempSync(path.join(tmpdir(), "ditto-vae-"));
  beforeAll(async () => {
    vae = await loadVae(CASE, { threads: 2 });
  });
  afterAll(() => {
    vae?.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("reads the architecture and the scaling from the config", () => {
    expect(vae.config).toMatchObject({ family: "autoencoder-kl", layout: "diffusers", latentChannels: 4, blockOutChannels: [32, 64], downscale: 2, scalingFactor: 0.18215, shiftFactor: 0, useQuantConv: true });
    expect(vae.weightsPath).toBe(path.join(CASE, "model.safetensors"));
  });

  it("ditto verify passes every output of the case (API)", async () => {
    const result = await verifyCase(CASE, { threads: 2 });
    expect(result.family).toBe("vae-kl");
    expect(result.pass).toBe(true);
    expect(result.skipped).toEqual([]);
    expect(Object.keys(result.outputs!)).toEqual(expect.arrayContaining(["out", "recon", "posterior.mean", "posterior.logvar", "posterior.std", "quant_conv.out", "encoder.mid_block.out", "decoder.up_blocks.1.out"]));
    for (const [name, r] of Object.entries(result.outputs!)) expect(r.pass, name).toBe(true);
  });

  it.skipIf(!existsSync(path.join(REPO_ROOT, "dist/cli.js")))("ditto verify passes the case (CLI)", () => {
    const run = spawnSync(process.execPath, [path.join(REPO_ROOT, "dist/cli.js"), "verify", CASE, "--threads", "2"], { encoding: "utf8", timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split("\n").at(-1)!)).toMatchObject({ case: "vae-kl", pass: true });
  });

  it("toLatents / fromLatents follow z = (x − shift)·scale and its inverse", () => {
    const x = Tensor.from(new Float32Array([1, -2, 0.5, 4]), [1, 4, 1, 1]);
    const z = vae.toLatents(x).toFloat32Array();
    expect([...z]).toEqual([...x.toFloat32Array()].map((v) => Math.fround(v * Math.fround(0.18215))));
    const back = vae.fromLatents(vae.toLatents(x)).toFloat32Array();
    for (let i = 0; i < 4; i++) expect(back[i]).toBeCloseTo(x.toFloat32Array()[i]!, 5);
  });

  it("decodes video latents frame by frame with progress and saves PNGs + an animated WebP", async () => {
    const io = readSafetensors(path.join(CASE, "io.safetensors"));
    const latent = toFloat32Array(io.tensors.get("latent")!); // [1, 4, 16, 16]
    const frames = 3, plane = 16 * 16;
    const video = new Float32Array(4 * frames * plane);
    for (let c = 0; c < 4; c++)
      for (let f = 0; f < frames; f++)
        for (let p = 0; p < plane; p++) video[(c * frames + f) * plane + p] = latent[c * plane + p]! * (f + 1) * 0.1;
    const events: number[] = [];
    const clips = await vae.decodeVideo(Tensor.from(video, [1, 4, frames, 16, 16]), { onProgress: (p) => events.push(p.done * 10 + p.total) });
    expect(events).toEqual([13, 23, 33]);
    expect(clips).toHaveLength(1);
    expect(clips[0]!.map((im) => [im.width, im.height, im.channels])).toEqual([[32, 32, 3], [32, 32, 3], [32, 32, 3]]);
    for (let f = 0; f < frames; f++) {
      const single = new Float32Array(4 * plane);
      for (let c = 0; c < 4; c++) single.set(video.subarray((c * frames + f) * plane, (c * frames + f + 1) * plane), c * plane);
      const [alone] = await vae.decodeImages(Tensor.from(single, [1, 4, 16, 16]));
      expect(Buffer.from(clips[0]![f]!.data).equals(Buffer.from(alone!.data))).toBe(true);
    }
    expect(Buffer.from(clips[0]![0]!.data).equals(Buffer.from(clips[0]![2]!.data))).toBe(false);
    const saved = await saveVideo(clips[0]!, path.join(tmp, "clip.webp"), { fps: 8 });
    expect(saved.frames.map((f) => path.basename(f))).toEqual(["frame-0000.png", "frame-0001.png", "frame-0002.png"]);
    const meta = await sharp(saved.webp, { animated: true }).metadata();
    expect(meta).toMatchObject({ format: "webp", pages: 3, width: 32, pageHeight: 32, loop: 0 });
    expect(meta.delay).toEqual([125, 125, 125]);
    const png = await sharp(saved.frames[1]!).raw().toBuffer();
    expect(png.equals(Buffer.from(clips[0]![1]!.data))).toBe(true);
  });

  it("dtype bf16 decodes close to the f32 reference (bf16 GEMM weights, ~1e-2 relative)", async () => {
    const io = readSafetensors(path.join(CASE, "io.safetensors"));
    const latent = io.tensors.get("latent")!, want = toFloat32Array(io.tensors.get("out")!);
    const bf16 = await loadVae(CASE, { threads: 2, dtype: "bf16" });
    try {
      const got = (await bf16.decode(Tensor.from(toFloat32Array(latent), latent.shape))).toFloat32Array();
      let maxAbs = 0, maxRef = 0;
      for (let i = 0; i < want.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(got[i]! - want[i]!));
        maxRef = Math.max(maxRef, Math.abs(want[i]!));
      }
      expect(maxAbs).toBeGreaterThan(0); // really the bf16 path
      expect(maxAbs / maxRef).toBeLessThan(3e-2);
    } finally {
      bf16.dispose();
    }
  });

  it("rejects bad inputs with exact messages", async () => {
    const image = Tensor.zeros([1, 3, 8, 8]);
    const e1 = await rejection(vae.decode(image));
    expect(e1).toBeInstanceOf(RangeError);
    expect(e1.message).toBe("Expected shape [B, 4 (latentChannels), H, W] with B, H, W >= 1 for latents but received [1, 3, 8, 8]");
    const e2 = await rejection(vae.encode(Tensor.zeros([1, 4, 8, 8])));
    expect(e2.message).toBe("Expected shape [B, 3 (inChannels), H, W] with B, H, W >= 1 for image but received [1, 4, 8, 8]");
    await expect(vae.decodeVideo(Tensor.zeros([1, 4, 8, 8]))).rejects.toThrow("Expected shape [B, 4, F, h, w] with every size >= 1 for latents but received [1, 4, 8, 8]");
    const native = await rejection(vae.encode(Tensor.zeros([1, 3, 1, 1])));
    expect(native).toBeInstanceOf(DittoError);
    expect((native as DittoError).code).toBe("ERR_INVALID_ARGUMENT");
    expect(native.message).toBe("Expected an image of at least 2x2 pixels but received [1, 3, 1, 1]");
  });

  it("honours an AbortSignal", async () => {
    const controller = new AbortController();
    controller.abort();
    const e = await rejection(vae.decode(Tensor.zeros([1, 4, 8, 8]), { signal: controller.signal }));
    expect((e as DittoError).code).toBe("ERR_ABORTED");
    const running = new AbortController();
    const pending = vae.decode(Tensor.zeros([1, 4, 64, 64]), { signal: running.signal });
    running.abort();
    expect(((await rejection(pending)) as DittoError).code).toBe("ERR_ABORTED");
  });

  it("refuses missing folders and non-VAE checkpoints, and use after dispose", async () => {
    const missing = await rejection(loadVae(path.join(tmp, "nope")));
    expect((missing as DittoError).code).toBe("ERR_MODEL_LOAD");
    const dit = await rejection(loadVae(path.join(GOLDEN, "dit-official")));
    expect((dit as DittoError).code).toBe("ERR_UNSUPPORTED_MODEL");
    const other = await loadVae(CASE, { threads: 1 });
    other.dispose();
    expect(() => other.config).toThrow("VAE has been disposed");
    expect(((await rejection(other.decode(Tensor.zeros([1, 4, 2, 2])))) as DittoError).code).toBe("ERR_DISPOSED");
  });
});

// `ditto generate` for latent models (any family; src/pipeline/latent.ts): the model folder (transformer in DIR or
// DIR/transformer) plus a VAE (DIR/vae or --vae DIR), conditions from --embeddings FILE (a .safetensors holding the
// condition tensors by their model.info.conditions names, e.g. encoderHiddenStates; DiT: an integer `labels`).
//   ditto generate --model DIR --embeddings prompt.safetensors [--vae DIR] [--height H --width W] [--frames F]
//                  [--negative-embeddings FILE --cfg G | --guidance SPEC] [--steps S] [--seed N] [--threads T]
//                  [--dtype f32|bf16] [--out x.png | clip.webp] [--json]
// Classifier-free guidance (src/pipeline/latentGuidance.ts): --negative-embeddings holds the unconditional branch's
// conditions under the same names and shapes, --cfg G its scale (Flux-dev: the guidance embedding, no negative),
// --guidance SPEC a guidance method (with --cfg: its CFG scale), as `ditto generate` for class labels.
// Images are saved as --out (several: <stem>-k.<ext>); video clips as an animated WebP plus a PNG sequence in
// <stem>-frames/ (several samples: <stem>-k.webp and <stem>-k-frames/); without a VAE the final latents go to
// --out as a .safetensors holding "latents".
import { mkdirSync } from "node:fs";
import path from "node:path";

import { readSafetensors, toFloat32Array, toNumberArray, writeSafetensors } from "../io/safetensors.js";
import { saveVideo } from "../images/video.js";
import { LatentPipeline, type LatentConditions } from "../pipeline/latent.js";
import { Tensor } from "../tensor.js";
import { guidanceChoice } from "./guidanceOption.js";
import { choiceOption, intOption, numberOption, outputFileOption, rejectPositionals, rejectUnknownOptions, stringOption, threadsOption, UsageError, type ParsedArgs } from "./args.js";
import { IMAGE_EXTENSIONS } from "./generate.js";
import { createProgress } from "./progress.js";

export const GENERATE_LATENT_USAGE = `Usage: ditto generate --model DIR [--embeddings FILE] [--vae DIR] [--height H] [--width W] [--frames F]
                      [--negative-embeddings FILE] [--cfg G] [--guidance SPEC]
                      [--n K] [--steps S] [--seed N] [--threads T] [--dtype f32|bf16] [--out FILE] [--json]`;

function readEmbeddings(file: string, option: string): LatentConditions {
  let content;
  try {
    content = readSafetensors(file);
  } catch (e) {
    throw new UsageError(`--${option}: ${(e as Error).message}`);
  }
  const labels = content.tensors.get("labels");
  if (labels && content.tensors.size === 1) return toNumberArray(labels);
  const out: Record<string, Tensor> = {};
  for (const [name, t] of content.tensors) out[name] = Tensor.from(toFloat32Array(t), t.shape);
  return out;
}

export async function runGenerateLatent(args: ParsedArgs, modelDir: string): Promise<number> {
  rejectUnknownOptions(args, ["model", "embeddings", "negative-embeddings", "cfg", "guidance", "vae", "height", "width", "frames", "n", "steps", "seed", "threads", "dtype", "out", "json"], GENERATE_LATENT_USAGE);
  rejectPositionals(args, GENERATE_LATENT_USAGE);
  const embeddings = stringOption(args, "embeddings");
  const conditions = embeddings === undefined ? undefined : readEmbeddings(embeddings, "embeddings");
  const negativeFile = stringOption(args, "negative-embeddings");
  const negative = negativeFile === undefined ? undefined : readEmbeddings(negativeFile, "negative-embeddings");
  const cfg = numberOption(args, "cfg");
  const guidanceSpec = stringOption(args, "guidance");
  // --guidance SPEC with --cfg G: G is the method's CFG scale (withCfgScale), as for class labels.
  const guidance = guidanceSpec === undefined ? undefined : guidanceChoice(guidanceSpec, cfg, Number.NaN).guider;
  const guidanceScale = guidance === undefined ? cfg : undefined;
  const height = intOption(args, "height", { min: 1, max: 16384 });
  const width = intOption(args, "width", { min: 1, max: 16384 });
  const frames = intOption(args, "frames", { min: 1, max: 1024 });
  const batch = intOption(args, "n", { min: 1, max: 1024 });
  const steps = intOption(args, "steps", { min: 1, max: 1000 });
  const seed = intOption(args, "seed", { min: 0, max: Number.MAX_SAFE_INTEGER - 1024 }) ?? 0;
  const dtype = choiceOption(args, "dtype", ["f32", "bf16"] as const);
  const threads = threadsOption(args);
  const vae = stringOption(args, "vae");
  using pipe = await LatentPipeline.load(modelDir, { vae, threads, dtype });
  const video = pipe.layout(1, { height, width, frames }).kind === "video";
  // Without a VAE (none given, no DIR/vae) the final latents are written as a .safetensors (tensor "latents").
  const latentOnly = !pipe.hasVae;
  const out = latentOnly
    ? outputFileOption(args, "out", "latents.safetensors", [".safetensors"])
    : outputFileOption(args, "out", video ? "video.webp" : "sample.png", video ? [".webp"] : IMAGE_EXTENSIONS);
  const progress = createProgress();
  const stepsLabel = `${pipe.family} latents`;
  let result;
  let decoding = false;
  try {
    progress.start(steps ?? 28, stepsLabel);
    result = await pipe.generate({
      conditions, batch, steps, seed, height, width, frames, guidanceScale, negative, guidance,
      onStep: (e) => progress.update(e.step),
      onFrame: (e) => {
        if (!decoding) {
          progress.stop();
          progress.start(e.total, "decoding frames");
          decoding = true;
        }
        progress.update(e.done);
      },
    });
  } finally {
    progress.stop();
  }
  const shape = result.latents.shape;
  const written: string[] = [];
  const ext = path.extname(out);
  const stem = out.slice(0, out.length - ext.length);
  if (latentOnly) {
    mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    writeSafetensors(out, { latents: { dtype: "F32", shape, data: result.latents.toFloat32Array() } });
    written.push(out);
  }
  result.latents.dispose();
  if (result.frames) {
    for (const [k, clip] of result.frames.entries()) {
      const file = result.frames.length === 1 ? out : `${stem}-${k}${ext}`;
      const saved = await saveVideo(clip, file);
      written.push(saved.webp, ...saved.frames);
    }
  } else if (result.images) {
    for (const [k, image] of result.images.entries()) {
      const file = result.images.length === 1 ? out : `${stem}-${k}${ext}`;
      await image.save(file);
      written.push(file);
    }
  }
  const summary = { family: pipe.family, latents: shape, files: written };
  if (args.options.has("json")) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else for (const f of written.filter((f) => !f.endsWith(".png") || !result.frames)) process.stdout.write(`${path.resolve(f)}\n`);
  return 0;
}

// `ditto generate`: class-conditional images from a DiT model folder, with a progress bar on stderr.
//   ditto generate --model DIR --class 3 --steps 50 --cfg 2 --seed 0 --out x.png
//   ditto generate --grid [--columns 10] --out grid.png       (rows = classes, --columns samples per class)
import path from "node:path";

import { isDeviceSpec } from "../device.js";
import { readFixtureInfo } from "../io/ditJson.js";
import { makeGrid } from "../images/grid.js";
import { packageRoot } from "../native.js";
import { NOISE_KINDS } from "../noise/index.js";
import { baseSeedRange, MAX_STEPS } from "../pipeline/options.js";
import { Pipeline } from "../pipeline/pipeline.js";
import { CachePolicy } from "../cache/policy.js";
import {
  choiceOption, folderOption, intOption, numberOption, outputFileOption, parseArgs, rejectPositionals, rejectTogether, statIfExists,
  rejectUnknownOptions, stringOption, threadsOption, UsageError,
} from "./args.js";
import { GENERATE_LATENT_USAGE, runGenerateLatent } from "./generateLatent.js";
import { guidanceChoice } from "./guidanceOption.js";
import { createProgress } from "./progress.js";

export const GENERATE_USAGE = `Usage: ditto generate [--model DIR] (--class C[,C…] [--n K] | --grid [--columns K]) [--steps S] [--cfg G]
                      [--seed N] [--noise philox|reference] [--threads T] [--dtype f32|bf16] [--device auto|cpu|cuda[:N]] [--upscale F]
                      [--cache SPEC] [--guidance SPEC] [--out FILE]`;

/** Image formats the writer (sharp) picks from the file extension. */
export const IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg", ".webp", ".avif", ".tif", ".tiff"] as const;
/** Most images one `ditto generate` makes (one batch: latents, CFG doubles it). */
export const MAX_IMAGES = 10_000;
/** Longest side of a saved image, after --upscale (16384² RGB is 805 MB in memory). */
export const MAX_SIDE = 16_384;
/** Gap between grid tiles (makeGrid's default padding). */
const GRID_PADDING = 2;

/** The vendored glyph model (examples/models/glyphs in the package). */
export function defaultModelDir(): string {
  return path.join(packageRoot(), "examples", "models", "glyphs");
}

export async function runGenerate(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ["grid", "help", "json"]);
  if (args.options.has("help")) {
    process.stdout.write(`${GENERATE_USAGE}\n${GENERATE_LATENT_USAGE}\n`);
    return 0;
  }
  // A latent model (a VAE beside it, conditions from a file, or a model folder without the class-label fixture's
  // dit.json: PixArt, SD3, Flux, Wan checkpoints) takes the latent pipeline (generateLatent.ts).
  const latentDir = stringOption(args, "model");
  const isDir = (p: string) => statIfExists(p)?.isDirectory() === true;
  const notClassLabel = latentDir !== undefined && isDir(latentDir) && statIfExists(path.join(latentDir, "dit.json")) === undefined;
  if (args.options.has("embeddings") || args.options.has("negative-embeddings") || args.options.has("vae") || notClassLabel || (latentDir !== undefined && isDir(path.join(latentDir, "vae")))) {
    return runGenerateLatent(args, folderOption(args, "model", defaultModelDir()));
  }
  // Every option is checked here, before the model loads.
  rejectUnknownOptions(args, ["model", "class", "n", "grid", "columns", "steps", "cfg", "seed", "noise", "threads", "dtype", "device", "upscale", "cache", "guidance", "out", "json"], GENERATE_USAGE);
  rejectPositionals(args, GENERATE_USAGE);
  rejectTogether(args, "class", "grid");
  rejectTogether(args, "n", "grid");
  const grid = args.options.has("grid");
  if (!grid && args.options.has("columns")) throw new UsageError("--columns needs --grid (--n sets the images per class)");
  const modelDir = folderOption(args, "model", defaultModelDir());
  const info = readFixtureInfo(modelDir);
  let labels: number[];
  let columns: number;
  let savedWidth: number, savedHeight: number;
  if (grid) {
    columns = intOption(args, "columns", { min: 1 }) ?? 10;
    labels = Array.from({ length: info.numClasses * columns }, (_, k) => Math.floor(k / columns));
    savedWidth = columns * info.width + (columns + 1) * GRID_PADDING;
    savedHeight = info.numClasses * info.height + (info.numClasses + 1) * GRID_PADDING;
    if (Math.max(savedWidth, savedHeight) > MAX_SIDE || labels.length > MAX_IMAGES) {
      throw new UsageError(`--grid with ${columns} columns makes ${labels.length} images in a ${savedWidth}×${savedHeight} grid ` +
        `(${info.numClasses} classes × ${columns}); the most is ${MAX_IMAGES} images and ${MAX_SIDE} pixels a side`);
    }
  } else {
    const classText = stringOption(args, "class");
    if (classText === undefined) throw new UsageError(`give --class C (0…${info.numClasses - 1}, ${info.numClasses} = unconditional) or --grid\n${GENERATE_USAGE}`);
    const classes = classText.split(",").map((c) => {
      const v = /^\s*\d+\s*$/.test(c) ? Number(c) : Number.NaN;
      if (!(v <= info.numClasses)) throw new UsageError(`--class expects integers between 0 and ${info.numClasses} (${info.numClasses} = unconditional) but received ${c === "" ? '""' : c}`);
      return v;
    });
    const perClass = intOption(args, "n", { min: 1, max: Math.floor(MAX_IMAGES / classes.length), why: `at most ${MAX_IMAGES} images per run` }) ?? 1;
    labels = classes.flatMap((v) => Array.from({ length: perClass }, () => v));
    columns = perClass;
    savedWidth = info.width;
    savedHeight = info.height;
  }
  const stepsOption = intOption(args, "steps", { min: 1, max: MAX_STEPS });
  let cfg = numberOption(args, "cfg");
  const guidanceSpec = stringOption(args, "guidance");
  const guidance = guidanceSpec === undefined ? undefined : guidanceChoice(guidanceSpec, cfg, info.recommendedCfg ?? Number.NaN);
  if (guidance && Number.isFinite(guidance.cfg)) cfg = guidance.cfg;
  const seedRange = baseSeedRange(labels.length, "seed");
  const seed = intOption(args, "seed", { min: 0, max: seedRange.max, why: labels.length > 1 ? `image i of ${labels.length} uses seed + i, which must stay a safe integer` : undefined }) ?? 0;
  const noise = choiceOption(args, "noise", NOISE_KINDS) ?? "philox";
  const dtype = choiceOption(args, "dtype", ["f32", "bf16"] as const);
  const device = stringOption(args, "device") ?? "auto";
  if (!isDeviceSpec(device)) throw new UsageError(`--device expects auto, cpu, cuda or cuda:N but received ${device}`);
  const maxUpscale = Math.floor(MAX_SIDE / Math.max(savedWidth, savedHeight));
  const upscale = intOption(args, "upscale", { min: 1, max: maxUpscale, why: `the ${savedWidth}×${savedHeight} ${grid ? "grid" : "image"} may grow to ${MAX_SIDE} pixels a side` })
    ?? Math.min(grid ? 4 : 8, maxUpscale);
  const out = outputFileOption(args, "out", grid ? "grid.png" : "sample.png", IMAGE_EXTENSIONS);
  const threads = threadsOption(args);
  const cacheSpec = stringOption(args, "cache");
  let cache: CachePolicy | undefined;
  try {
    cache = cacheSpec === undefined ? undefined : CachePolicy.from(cacheSpec);
  } catch (e) {
    throw new UsageError(`--cache ${cacheSpec}: ${(e as Error).message}`);
  }

  await using pipe = await Pipeline.load({ kind: "class-conditional", model: modelDir, threads, dtype, device });
  const steps = stepsOption ?? pipe.recommended.steps;
  const progress = createProgress();
  progress.start(steps, `${labels.length} image${labels.length > 1 ? "s" : ""}`);
  let result;
  try {
    result = await pipe.generate({
      classLabels: labels, steps, guidanceScale: cfg, seed, noise, ...(cache ? { cache } : {}), ...(guidance ? { guidance: guidance.guider } : {}),
      onStep: (e) => progress.update(e.step),
    });
  } finally {
    progress.stop();
  }
  result.latents.dispose();
  const written: string[] = [];
  if (grid || result.images.length === 1) {
    const image = grid ? makeGrid(result.images, { columns, padding: GRID_PADDING }) : result.images[0]!;
    await image.upscale(upscale).save(out);
    written.push(out);
  } else {
    const ext = path.extname(out) || ".png";
    const stem = out.slice(0, out.length - path.extname(out).length);
    for (const [k, img] of result.images.entries()) {
      const file = `${stem}-${k}${ext}`;
      await img.upscale(upscale).save(file);
      written.push(file);
    }
  }
  const s = result.stats;
  const summary = { files: written, images: result.images.length, steps: steps, cfg: cfg ?? pipe.recommended.guidanceScale, wallMs: s.wallMs, forwards: s.forwards, macs: s.macs,
    ...(cache ? { cache: cache.toString(), macsUncached: s.macsUncached, blocksComputed: s.blocksComputed, blocksReused: s.blocksReused, cacheBytes: s.cacheBytes } : {}) };
  if (args.options.has("json")) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    process.stderr.write(`${summary.images} image(s), ${steps} steps, CFG ${summary.cfg}, ${(s.wallMs / 1000).toFixed(2)} s\n`);
    for (const f of written) process.stdout.write(`${path.resolve(f)}\n`);
  }
  return 0;
}

// `ditto generate`: class-conditional images from a DiT model folder, with a progress bar on stderr.
//   ditto generate --model DIR --class 3 --steps 50 --cfg 2 --seed 0 --out x.png
//   ditto generate --grid [--columns 10] --out grid.png       (rows = classes, --columns samples per class)
import { existsSync } from "node:fs";
import path from "node:path";

import { isDeviceSpec } from "../device.js";
import { readFixtureInfo } from "../io/ditJson.js";
import { makeGrid } from "../images/grid.js";
import { packageRoot } from "../native.js";
import { NOISE_KINDS, type NoiseKind } from "../noise/index.js";
import { Pipeline } from "../pipeline/pipeline.js";
import { intOption, parseArgs, rejectUnknownOptions, stringOption, UsageError } from "./args.js";
import { createProgress } from "./progress.js";

export const GENERATE_USAGE = `Usage: ditto generate [--model DIR] (--class C[,C…] [--n K] | --grid [--columns K]) [--steps S] [--cfg G]
                      [--seed N] [--noise philox|reference] [--threads T] [--dtype f32|bf16] [--device auto|cpu|cuda[:N]] [--upscale F]
                      [--out FILE]`;

/** The vendored glyph model (examples/models/glyphs in the package). */
export function defaultModelDir(): string {
  return path.join(packageRoot(), "examples", "models", "glyphs");
}

export async function runGenerate(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ["grid", "help", "json"]);
  if (args.options.has("help")) {
    process.stdout.write(`${GENERATE_USAGE}\n`);
    return 0;
  }
  rejectUnknownOptions(args, ["model", "class", "n", "grid", "columns", "steps", "cfg", "seed", "noise", "threads", "dtype", "device", "upscale", "out", "json"], GENERATE_USAGE);
  const modelDir = stringOption(args, "model") ?? defaultModelDir();
  if (!existsSync(modelDir)) throw new UsageError(`model folder ${modelDir} does not exist`);
  const info = readFixtureInfo(modelDir);
  const grid = args.options.has("grid");
  let labels: number[];
  let columns: number;
  if (grid) {
    columns = intOption(args, "columns") ?? 10;
    if (columns < 1) throw new UsageError(`--columns expects a positive integer but received ${columns}`);
    labels = Array.from({ length: info.numClasses * columns }, (_, k) => Math.floor(k / columns));
  } else {
    const classes = (stringOption(args, "class") ?? "").split(",").filter((s) => s.trim() !== "");
    if (classes.length === 0) throw new UsageError(`give --class C (0…${info.numClasses - 1}, ${info.numClasses} = unconditional) or --grid\n${GENERATE_USAGE}`);
    const perClass = intOption(args, "n") ?? 1;
    labels = classes.flatMap((c) => {
      const v = Number(c);
      if (!Number.isInteger(v) || v < 0 || v > info.numClasses) throw new UsageError(`--class expects integers between 0 and ${info.numClasses} but received ${c}`);
      return Array.from({ length: perClass }, () => v);
    });
    columns = perClass;
  }
  const noise = (stringOption(args, "noise") ?? "philox") as NoiseKind;
  if (!NOISE_KINDS.includes(noise)) throw new UsageError(`--noise expects philox or reference but received ${noise}`);
  const dtype = stringOption(args, "dtype");
  if (dtype !== undefined && dtype !== "f32" && dtype !== "bf16") throw new UsageError(`--dtype expects f32 or bf16 but received ${dtype}`);
  const cfgText = stringOption(args, "cfg");
  const cfg = cfgText === undefined ? undefined : Number(cfgText);
  if (cfg !== undefined && !Number.isFinite(cfg)) throw new UsageError(`--cfg expects a number but received ${cfgText}`);
  const upscale = intOption(args, "upscale") ?? (grid ? 4 : 8);
  const out = stringOption(args, "out") ?? (grid ? "grid.png" : "sample.png");

  const device = stringOption(args, "device") ?? "auto";
  if (!isDeviceSpec(device)) throw new UsageError(`--device expects auto, cpu, cuda or cuda:N but received ${device}`);
  await using pipe = await Pipeline.load({ model: modelDir, threads: intOption(args, "threads"), dtype, device });
  const progress = createProgress();
  const steps = intOption(args, "steps") ?? pipe.recommended.steps;
  progress.start(steps, `${labels.length} image${labels.length > 1 ? "s" : ""}`);
  let result;
  try {
    result = await pipe.generate({
      classLabels: labels, steps, guidanceScale: cfg, seed: intOption(args, "seed") ?? 0, noise,
      onStep: (e) => progress.update(e.step),
    });
  } finally {
    progress.stop();
  }
  result.latents.dispose();
  const written: string[] = [];
  if (grid || result.images.length === 1) {
    const image = grid ? makeGrid(result.images, { columns }) : result.images[0]!;
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
  const summary = { files: written, images: result.images.length, steps, cfg: cfg ?? pipe.recommended.guidanceScale, wallMs: s.wallMs, forwards: s.forwards, macs: s.macs };
  if (args.options.has("json")) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    process.stderr.write(`${summary.images} image(s), ${steps} steps, CFG ${summary.cfg}, ${(s.wallMs / 1000).toFixed(2)} s\n`);
    for (const f of written) process.stdout.write(`${path.resolve(f)}\n`);
  }
  return 0;
}

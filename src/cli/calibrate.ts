// `ditto calibrate`: fits what the calibrated cache policies need (TeaCache's polynomial, MagCache's ratio curve)
// from calibration seeds and writes a profile (src/cache/calibrate.ts, docs/caching.md) that
// `--cache teaCache:profile=FILE` / `magCache:profile=FILE` read. Use seeds you do not report on.
import { writeFileSync } from "node:fs";

import { calibrate } from "../cache/calibrate.js";
import { protocolLabels } from "../eval/harness.js";
import { readFixtureInfo } from "../io/ditJson.js";
import { baseSeedRange, MAX_STEPS } from "../pipeline/options.js";
import { Pipeline } from "../pipeline/pipeline.js";
import {
  folderOption, intOption, numberOption, outputFileOption, parseArgs, rejectPositionals, rejectUnknownOptions, threadsOption, UsageError,
} from "./args.js";
import { defaultModelDir } from "./generate.js";
import { createProgress } from "./progress.js";

export const CALIBRATE_USAGE = `Usage: ditto calibrate --fixture DIR --seed-base K --n N --out profile.json [--steps S] [--cfg G] [--batch B] [--threads T]`;

export async function runCalibrate(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ["help"]);
  if (args.options.has("help")) {
    process.stdout.write(`${CALIBRATE_USAGE}\n`);
    return 0;
  }
  rejectUnknownOptions(args, ["fixture", "seed-base", "n", "out", "steps", "cfg", "batch", "threads"], CALIBRATE_USAGE);
  rejectPositionals(args, CALIBRATE_USAGE);
  const fixture = folderOption(args, "fixture", defaultModelDir());
  const info = readFixtureInfo(fixture);
  const n = intOption(args, "n", { min: 1 }) ?? 20;
  const seeds = baseSeedRange(n, "seed-base");
  const seedBase = intOption(args, "seed-base", { min: 0, max: seeds.max });
  if (seedBase === undefined) throw new UsageError(`--seed-base K is required (calibration seeds, apart from the ones you report on)\n${CALIBRATE_USAGE}`);
  const out = outputFileOption(args, "out", undefined, [".json"]);
  if (out === undefined) throw new UsageError(`--out FILE.json is required\n${CALIBRATE_USAGE}`);
  const steps = intOption(args, "steps", { min: 2, max: MAX_STEPS }) ?? info.recommendedSteps ?? 50;
  const cfg = numberOption(args, "cfg") ?? info.recommendedCfg ?? 4;
  const batchSize = intOption(args, "batch", { min: 1 }) ?? 50;
  await using pipe = await Pipeline.load({ kind: "class-conditional", model: fixture, threads: threadsOption(args) });
  const progress = createProgress();
  progress.start(n, "calibrate");
  let profile;
  try {
    profile = await calibrate({
      pipe, labels: protocolLabels(n, info.numClasses), seeds: Array.from({ length: n }, (_, k) => seedBase + k), steps,
      guidanceScale: cfg, batchSize, source: { fixture, seedBase, n, steps, cfg }, onProgress: (done) => progress.update(done),
    });
  } finally {
    progress.stop();
  }
  writeFileSync(out, `${JSON.stringify(profile, null, 1)}\n`);
  process.stdout.write(`${out}\n`);
  return 0;
}

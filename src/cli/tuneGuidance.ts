// `ditto tune-guidance`: src/eval/tune.ts on a fixture — sweeps a method's parameters on tuning seeds (--seed-base
// 10000 and up) at a small N and prints the chosen setting (with --json ONE JSON line, last on stdout: the chosen
// SPEC, the CFG reference and every trial). Evaluate the chosen SPEC on the standard seeds with `ditto eval`.
import { QualityMeter } from "../eval/meter.js";
import { FIRST_TUNING_SEED, TUNING_GRIDS, tuneGuidance } from "../eval/tune.js";
import { readFixtureInfo } from "../io/ditJson.js";
import { baseSeedRange, MAX_STEPS } from "../pipeline/options.js";
import { choiceOption, folderOption, intOption, parseArgs, rejectPositionals, rejectUnknownOptions, threadsOption, UsageError } from "./args.js";
import { defaultModelDir } from "./generate.js";
import { createProgress } from "./progress.js";

export const TUNE_GUIDANCE_USAGE = `Usage: ditto tune-guidance --fixture DIR --method ${Object.keys(TUNING_GRIDS).join("|")} [--budget B]
                           [--n N] [--steps S] [--seed-base K] [--threads T] [--json]
  Measures up to B settings of the method (default: its whole grid) at N samples (default 100) on tuning seeds
  from K (default ${FIRST_TUNING_SEED}; smaller bases are refused) and picks the lowest FD with ACC not below CFG's.`;

export async function runTuneGuidance(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ["json", "help"]);
  if (args.options.has("help")) {
    process.stdout.write(`${TUNE_GUIDANCE_USAGE}\n`);
    return 0;
  }
  rejectUnknownOptions(args, ["fixture", "method", "budget", "n", "steps", "seed-base", "threads", "json"], TUNE_GUIDANCE_USAGE);
  rejectPositionals(args, TUNE_GUIDANCE_USAGE);
  const fixture = folderOption(args, "fixture", defaultModelDir());
  const info = readFixtureInfo(fixture);
  const method = choiceOption(args, "method", Object.keys(TUNING_GRIDS));
  if (method === undefined) throw new UsageError(`--method is required: one of ${Object.keys(TUNING_GRIDS).join(", ")}`);
  const budget = intOption(args, "budget", { min: 1 });
  const n = intOption(args, "n", { min: 1 }) ?? 100;
  if (n % info.numClasses !== 0) throw new UsageError(`--n expects a multiple of ${info.numClasses} (the fixture's classes) but received ${n}`);
  const steps = intOption(args, "steps", { min: 1, max: MAX_STEPS }) ?? info.recommendedSteps ?? 50;
  const seedBase = intOption(args, "seed-base", { min: FIRST_TUNING_SEED, max: baseSeedRange(n, "seed-base").max, why: "tuning seeds start at 10000; smaller bases are the report seeds" }) ?? FIRST_TUNING_SEED;
  const meter = await QualityMeter.open(fixture, { threads: threadsOption(args) });
  const progress = createProgress();
  let trial = 0;
  progress.start(n, `reference`);
  try {
    const result = await tuneGuidance(meter, {
      method, budget, n, steps, seedBase,
      onProgress: (e) => progress.update(e.done),
      onTrial: (t) => {
        trial++;
        process.stderr.write(`\n${t.spec}: FD ${t.fd.toFixed(4)} ACC ${t.acc.toFixed(3)}\n`);
        progress.start(n, `trial ${trial + 1}`);
      },
    });
    progress.stop();
    if (args.options.has("json")) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      process.stdout.write(`reference ${result.reference.spec}: FD ${result.reference.fd.toFixed(4)} ACC ${result.reference.acc.toFixed(3)}\n`);
      process.stdout.write(`chosen ${result.chosen ?? "(none kept ACC at the reference's level)"}\n`);
    }
  } finally {
    progress.stop();
    await meter.dispose();
  }
  return 0;
}

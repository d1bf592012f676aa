// `ditto eval`: the quality harness (shared/contracts.md): FD / ACC of N generated samples against a fixture's
// metric network, PSNR / SSIM against the plain run when a cache or guidance policy is given. `--json` prints ONE
// JSON line, last on stdout; progress goes to stderr.
import { runEval, type EvalOptions } from "../eval/harness.js";
import { readFixtureInfo } from "../io/ditJson.js";
import { NOISE_KINDS, type NoiseKind } from "../noise/index.js";
import { intOption, parseArgs, rejectUnknownOptions, stringOption, UsageError } from "./args.js";
import { defaultModelDir } from "./generate.js";
import { createProgress } from "./progress.js";

export const EVAL_USAGE = `Usage: ditto eval --fixture DIR --n N --steps S --cfg G --seed-base K [--noise philox|reference]
                  [--cache SPEC] [--guidance SPEC] [--save FILE] [--threads T] [--batch B] [--dtype f32|bf16] [--json]`;

function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--${name} expects a number but received ${value}`);
  return n;
}

export async function runEvalCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ["json", "help"]);
  if (args.options.has("help")) {
    process.stdout.write(`${EVAL_USAGE}\n`);
    return 0;
  }
  rejectUnknownOptions(args, ["fixture", "n", "steps", "cfg", "seed-base", "noise", "cache", "guidance", "save", "threads", "batch", "dtype", "json"], EVAL_USAGE);
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${args.positionals[0]}\n${EVAL_USAGE}`);
  const fixture = stringOption(args, "fixture") ?? defaultModelDir();
  const info = readFixtureInfo(fixture);
  const noise = (stringOption(args, "noise") ?? "philox") as NoiseKind;
  if (!NOISE_KINDS.includes(noise)) throw new UsageError(`--noise expects philox or reference but received ${noise}`);
  const dtype = stringOption(args, "dtype");
  if (dtype !== undefined && dtype !== "f32" && dtype !== "bf16") throw new UsageError(`--dtype expects f32 or bf16 but received ${dtype}`);
  const options: EvalOptions = {
    fixture,
    n: intOption(args, "n") ?? 1000,
    steps: intOption(args, "steps") ?? info.recommendedSteps ?? 50,
    cfg: numberOption(stringOption(args, "cfg"), "cfg") ?? info.recommendedCfg ?? 4,
    seedBase: intOption(args, "seed-base") ?? 0,
    noise,
    cache: stringOption(args, "cache"),
    guidance: stringOption(args, "guidance"),
    save: stringOption(args, "save"),
    threads: intOption(args, "threads"),
    batchSize: intOption(args, "batch"),
    dtype,
  };
  const progress = createProgress();
  let phase = "";
  options.onProgress = (e) => {
    if (e.phase !== phase) {
      phase = e.phase;
      progress.start(e.phase === "metrics" ? e.total : e.total * options.steps, e.phase === "metrics" ? "metrics " : e.phase === "plain" ? "plain   " : "generate");
    }
    progress.update(e.phase === "metrics" ? e.done : e.done * options.steps + (e.step ?? 0) * Math.min(options.batchSize ?? 100, e.total - e.done));
  };
  let result;
  try {
    result = await runEval(options);
  } finally {
    progress.stop();
  }
  const line = {
    fd: result.fd, acc: result.acc, psnr: result.psnr, ssim: result.ssim,
    macs: result.macs, macsUncached: result.macsUncached, wallMs: result.wallMs, peakBytes: result.peakBytes,
    n: result.n, steps: result.steps, cfg: result.cfg, seedBase: result.seedBase, noise: result.noise,
    ...(result.cache ? { cache: result.cache } : {}),
    ...(result.guidance ? { guidance: result.guidance } : {}),
  };
  if (args.options.has("json")) {
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } else {
    const fidelity = result.psnr === null ? "" : `  PSNR ${result.psnr.toFixed(2)} dB  SSIM ${result.ssim!.toFixed(4)}`;
    process.stdout.write(
      `FD ${result.fd.toFixed(4)}  ACC ${result.acc.toFixed(3)}${fidelity}\n` +
        `n ${result.n}, ${result.steps} steps, CFG ${result.cfg}, seeds ${result.seedBase}…${result.seedBase + result.n - 1} (${result.noise} noise)\n` +
        `${(result.macs / 1e12).toFixed(3)} TMACs, ${(result.wallMs / 1000).toFixed(1)} s, ${(result.n / (result.wallMs / 1000)).toFixed(2)} images/s, peak RSS ${(result.peakBytes / 2 ** 20).toFixed(0)} MiB\n`,
    );
  }
  return 0;
}

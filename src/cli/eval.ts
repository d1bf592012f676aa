// `ditto eval`: the quality harness (shared/contracts.md): FD / ACC of N generated samples against a fixture's
// metric network, PSNR / SSIM against the plain run when a cache or guidance policy is given. `--json` prints ONE
// JSON line, last on stdout; progress goes to stderr.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { isDeviceSpec, type DeviceSpec } from "../device.js";

import { runEval, type EvalOptions } from "../eval/harness.js";
import { readFixtureInfo } from "../io/ditJson.js";
import { parseCacheSpec } from "../cache/specs.js";
import { parseGuidanceSpec } from "../guidance/specs.js";
import type { PolicySpec } from "../policySpec.js";
import { NOISE_KINDS } from "../noise/index.js";
import { baseSeedRange, checkPolicies, MAX_STEPS } from "../pipeline/options.js";
import {
  choiceOption, folderOption, intOption, numberOption, outputFileOption, parseArgs, rejectPositionals, rejectUnknownOptions,
  stringOption, threadsOption, UsageError, type ParsedArgs,
} from "./args.js";
import { defaultModelDir } from "./generate.js";
import { guidanceChoice } from "./guidanceOption.js";
import { createProgress } from "./progress.js";

export const EVAL_USAGE = `Usage: ditto eval --fixture DIR --n N --steps S --cfg G --seed-base K [--noise philox|reference]
                  [--cache SPEC] [--guidance SPEC] [--save FILE] [--threads T] [--batch B] [--dtype f32|bf16]
                  [--device cpu|cuda[:N]|auto] [--json]
  --guidance SPEC   a guidance method (docs/guidance.md): auto, cfg:scale=G, autoguidance:alpha=A,from=F,to=T,scale=W,
                    slg:layers=L,scale=S,start=A,stop=B, pag:…, stg:…, apg:…, cfgZeroStar:…, interval:scale=G,sigmaLo=…,
                    schedule:scale=G[,shape=linear|cosine][,floor=F], strongWeak:…; any method takes sigmaLo / sigmaHi. With --cfg G, G is the CFG scale inside the method.`;

/** `--cache` / `--guidance`: parsed, and refused up front when the engine cannot run the policy yet. */
function policyOption(args: ParsedArgs, name: "cache" | "guidance"): string | undefined {
  const spec = stringOption(args, name);
  if (spec === undefined) return undefined;
  try {
    const policy: PolicySpec = name === "cache" ? parseCacheSpec(spec) : parseGuidanceSpec(spec);
    checkPolicies({ [name]: policy });
  } catch (e) {
    throw new UsageError(`--${name} ${spec}: ${(e as Error).message}`);
  }
  return spec;
}

// --device (default cpu: the protocol's reference numbers are CPU runs).
function deviceOption(args: ParsedArgs): DeviceSpec {
  const device = stringOption(args, "device") ?? "cpu";
  if (!isDeviceSpec(device)) throw new UsageError(`--device expects auto, cpu, cuda or cuda:N but received ${device}`);
  return device;
}

export async function runEvalCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ["json", "help"]);
  if (args.options.has("help")) {
    process.stdout.write(`${EVAL_USAGE}\n`);
    return 0;
  }
  // Every option is checked here, before the classifier or the model loads.
  rejectUnknownOptions(args, ["fixture", "n", "steps", "cfg", "seed-base", "noise", "cache", "guidance", "save", "threads", "batch", "dtype", "device", "json"], EVAL_USAGE);
  rejectPositionals(args, EVAL_USAGE);
  const fixture = folderOption(args, "fixture", defaultModelDir());
  const info = readFixtureInfo(fixture);
  const n = intOption(args, "n", { min: 1 }) ?? 1000;
  if (n % info.numClasses !== 0) throw new UsageError(`--n expects a multiple of ${info.numClasses} (the fixture's classes) but received ${n}`);
  const seeds = baseSeedRange(n, "seed-base");
  const options: EvalOptions = {
    fixture,
    n,
    steps: intOption(args, "steps", { min: 1, max: MAX_STEPS }) ?? info.recommendedSteps ?? 50,
    cfg: numberOption(args, "cfg") ?? info.recommendedCfg ?? 4,
    guidance: undefined,
    seedBase: intOption(args, "seed-base", { min: 0, max: seeds.max, why: n > 1 ? `sample k of ${n} uses seed-base + k, which must stay a safe integer` : undefined }) ?? 0,
    noise: choiceOption(args, "noise", NOISE_KINDS) ?? "philox",
    cache: policyOption(args, "cache"),
    save: outputFileOption(args, "save"),
    threads: threadsOption(args),
    batchSize: intOption(args, "batch", { min: 1 }),
    dtype: choiceOption(args, "dtype", ["f32", "bf16"] as const),
    device: deviceOption(args),
  };
  const guidanceSpec = stringOption(args, "guidance");
  if (guidanceSpec !== undefined) {
    const choice = guidanceChoice(guidanceSpec, numberOption(args, "cfg"), options.cfg);
    options.guidance = choice.spec;
    options.cfg = choice.cfg;
  }
  if (options.save) mkdirSync(path.dirname(path.resolve(options.save)), { recursive: true });
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
    blocksComputed: result.blocksComputed, blocksReused: result.blocksReused, cacheBytes: result.cacheBytes,
    ...(result.fdUncached !== undefined ? { fdUncached: result.fdUncached, accUncached: result.accUncached, wallMsUncached: result.wallMsUncached } : {}),
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
        `${(result.macs / 1e12).toFixed(3)} TMACs, ${(result.wallMs / 1000).toFixed(1)} s, ${(result.n / (result.wallMs / 1000)).toFixed(2)} images/s, peak engine memory ${(result.peakBytes / 2 ** 20).toFixed(0)} MiB\n`,
    );
  }
  return 0;
}

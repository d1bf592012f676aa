// `ditto analyze-blocks`: the block analysis of src/eval/blocks.ts on a fixture (docs/guidance.md, "Block analysis"):
// every block skipped and scaled by a few α, FD / ACC and PSNR / SSIM against the unperturbed run. `--json` prints
// ONE JSON line (the same table analyzeBlocks returns), last on stdout; `--png FILE` writes the heat map; progress
// goes to stderr.
import { mkdirSync } from "node:fs";
import path from "node:path";

import { analyzeBlocks, heatmapImage, type BlockAnalysisRow } from "../eval/blocks.js";
import { QualityMeter } from "../eval/meter.js";
import { readFixtureInfo } from "../io/ditJson.js";
import { baseSeedRange, MAX_STEPS } from "../pipeline/options.js";
import {
  folderOption, intOption, numberOption, outputFileOption, parseArgs, rejectPositionals, rejectUnknownOptions, stringOption,
  threadsOption, UsageError,
} from "./args.js";
import { defaultModelDir } from "./generate.js";
import { createProgress } from "./progress.js";

export const ANALYZE_BLOCKS_USAGE = `Usage: ditto analyze-blocks --fixture DIR [--n N] [--steps S] [--seed-base K] [--cfg G]
                            [--alphas A,B,…] [--png FILE] [--threads T] [--json]
  For every block: FD / ACC with it skipped and scaled by each α (default 0.5,0.8,1.2,1.5), in both CFG passes,
  and PSNR / SSIM against the unperturbed run on the same seeds (default: N 100, seeds from 10000, tuning seeds).`;

export async function runAnalyzeBlocks(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ["json", "help"]);
  if (args.options.has("help")) {
    process.stdout.write(`${ANALYZE_BLOCKS_USAGE}\n`);
    return 0;
  }
  rejectUnknownOptions(args, ["fixture", "n", "steps", "seed-base", "cfg", "alphas", "png", "threads", "json"], ANALYZE_BLOCKS_USAGE);
  rejectPositionals(args, ANALYZE_BLOCKS_USAGE);
  const fixture = folderOption(args, "fixture", defaultModelDir());
  const info = readFixtureInfo(fixture);
  const n = intOption(args, "n", { min: 1 }) ?? 100;
  if (n % info.numClasses !== 0) throw new UsageError(`--n expects a multiple of ${info.numClasses} (the fixture's classes) but received ${n}`);
  const steps = intOption(args, "steps", { min: 1, max: MAX_STEPS }) ?? info.recommendedSteps ?? 50;
  const seedBase = intOption(args, "seed-base", { min: 0, max: baseSeedRange(n, "seed-base").max }) ?? 10_000;
  const cfg = numberOption(args, "cfg");
  const alphasText = stringOption(args, "alphas");
  const alphas = alphasText?.split(",").map((s) => {
    const a = Number(s);
    if (s.trim() === "" || !Number.isFinite(a) || a === 0 || a === 1) throw new UsageError(`--alphas expects numbers other than 0 and 1 joined by ',' but received ${alphasText}`);
    return a;
  });
  const png = outputFileOption(args, "png", undefined, [".png"]);
  const threads = threadsOption(args);

  const meter = await QualityMeter.open(fixture, { threads });
  const progress = createProgress();
  const runs = 1 + meter.pipeline.model.config.depth * (1 + (alphas?.length ?? 4));
  let run = 0;
  progress.start(runs * n, "analyze ");
  const rows: BlockAnalysisRow[] = [];
  try {
    const analysis = await analyzeBlocks(meter, {
      n, steps, seedBase, cfg, alphas,
      onProgress: (e) => progress.update(run * n + e.done),
      onRow: (row) => { run++; rows.push(row); },
    });
    progress.stop();
    if (png) {
      mkdirSync(path.dirname(path.resolve(png)), { recursive: true });
      await heatmapImage(analysis).save(png);
    }
    if (args.options.has("json")) process.stdout.write(`${JSON.stringify(analysis)}\n`);
    else {
      const f = (v: number | null, d: number) => (v === null ? "—" : v.toFixed(d));
      process.stdout.write(`block  action      FD        ACC    PSNR    SSIM   (n ${n}, ${steps} steps, CFG ${analysis.cfg}, seeds ${seedBase}…)\n`);
      for (const r of [analysis.reference, ...analysis.rows]) {
        const action = r.action === "scale" ? `scale ${r.alpha}` : r.action;
        process.stdout.write(`${String(r.block < 0 ? "—" : r.block).padStart(5)}  ${action.padEnd(10)} ${f(r.fd, 3).padStart(9)}  ${f(r.acc, 3)}  ${f(r.psnr, 2).padStart(6)}  ${f(r.ssim, 4)}\n`);
      }
    }
  } finally {
    progress.stop();
    await meter.dispose();
  }
  return 0;
}

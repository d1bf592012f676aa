#!/usr/bin/env node
// The `ditto` command: dispatches to src/cli/<command>.ts. Each command returns its exit code; usage errors exit
// 64, unexpected errors 1 (message on stderr). Add a command with one entry in COMMANDS.
import { UsageError } from "./cli/args.js";

type Command = { summary: string; run: () => Promise<(argv: readonly string[]) => Promise<number>> };

const COMMANDS: Record<string, Command> = {
  verify: { summary: "check the engine against a golden case folder (or --all <dir>)", run: async () => (await import("./cli/verify.js")).runVerify },
  info: { summary: "version, CPU features, ISA and threads in use", run: async () => (await import("./cli/info.js")).runInfo },
  generate: { summary: "generate class-conditional images (PNG; --grid for a classes × N grid)", run: async () => (await import("./cli/generate.js")).runGenerate },
  serve: { summary: "HTTP generation service (fastify; --queue redis://… hands jobs to workers)", run: async () => (await import("./cli/serve.js")).runServe },
  worker: { summary: "consume generation jobs from a BullMQ queue on Redis", run: async () => (await import("./cli/worker.js")).runWorker },
  calibrate: { summary: "fit a cache profile (TeaCache polynomial, MagCache ratios) on calibration seeds", run: async () => (await import("./cli/calibrate.js")).runCalibrate },
  "analyze-blocks": { summary: "FD / ACC of every block skipped or scaled (heat map with --png)", run: async () => (await import("./cli/analyzeBlocks.js")).runAnalyzeBlocks },
  "tune-guidance": { summary: "sweep a guidance method's parameters on tuning seeds and print the chosen setting", run: async () => (await import("./cli/tuneGuidance.js")).runTuneGuidance },
  eval: { summary: "quality harness: FD / ACC (and PSNR / SSIM) of N samples on a fixture", run: async () => (await import("./cli/eval.js")).runEvalCommand },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `Usage: ditto <command> [options]\n\nCommands:\n${lines.join("\n")}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return name ? 0 : 64;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`ditto: unknown command "${name}"\n${usage()}`);
    return 64;
  }
  try {
    return await (await command.run())(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`ditto ${name}: ${e.message}\n`);
      return 64;
    }
    const error = e as Error & { code?: string };
    process.stderr.write(`ditto ${name}: ${error.code ? `${error.code}: ` : ""}${error.message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});

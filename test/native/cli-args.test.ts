// The CLI checks every option before any work: a bad or contradictory option is a UsageError with an exact message,
// thrown before the model loads (so no file is written). The full table runs the subcommands in-process (fast); the
// issue's cases also run the built CLI (dist/, so this needs the build) in child processes: exit 64, the message on
// stderr and nothing else (no progress bar: no model was loaded). Threads above the core count are capped with a
// warning.
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";

import { parseArgs, rejectUnknownOptions, UsageError } from "../../src/cli/args.js";
import { EVAL_USAGE, runEvalCommand } from "../../src/cli/eval.js";
import { GENERATE_USAGE, runGenerate } from "../../src/cli/generate.js";
import { runInfo } from "../../src/cli/info.js";
import { runVerify, VERIFY_USAGE } from "../../src/cli/verify.js";

// In-process, any work past validation is a failure (and must not run for minutes): the entry points of the work fail.
const { workStarted } = vi.hoisted(() => ({ workStarted: (what: string) => () => { throw new Error(`work started: ${what}`); } }));
vi.mock("../../src/pipeline/pipeline.js", async (original) => ({ ...(await original()), Pipeline: { load: workStarted("Pipeline.load") } }));
vi.mock("../../src/eval/harness.js", async (original) => ({ ...(await original()), runEval: workStarted("runEval") }));
vi.mock("../../src/verify/index.js", async (original) => ({ ...(await original()), verifyCase: workStarted("verifyCase"), verifyAll: workStarted("verifyAll") }));

const ROOT = path.resolve(new URL("../..", import.meta.url).pathname);
const CLI = path.join(ROOT, "dist/cli.js");
const MAX = Number.MAX_SAFE_INTEGER;
const CORES = availableParallelism();

const work = mkdtempSync(path.join(tmpdir(), "ditto-cli-"));
const OUT = path.join(work, "out", "x.png");
const A_FILE = path.join(work, "a-file");
writeFileSync(A_FILE, "");

function ditto(...argv: string[]) {
  return spawnSync(process.execPath, [CLI, ...argv], { encoding: "utf8", cwd: work });
}

/** The built CLI in a child process, not blocking the other runs (they go in parallel). */
function dittoAsync(...argv: string[]): Promise<{ status: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...argv], { encoding: "utf8", cwd: work }, (error, stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === "number" ? error.code : null) : 0, stdout, stderr });
    });
  });
}

const COMMANDS = { generate: runGenerate, eval: runEvalCommand, verify: runVerify, info: runInfo };

/** A subcommand in-process: the UsageError it throws (what the CLI prints after "ditto <command>: ", exit 64). */
async function usageError(command: keyof typeof COMMANDS, argv: string[]): Promise<string> {
  try {
    await COMMANDS[command](argv);
  } catch (e) {
    if (e instanceof UsageError) return e.message;
    throw e;
  }
  throw new Error(`ditto ${command} ${argv.join(" ")} did not fail`);
}

describe("CLI options", () => {
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("rejectUnknownOptions names the option and shows the usage", () => {
    const args = parseArgs(["case-dir", "--thredas", "2"]);
    expect(() => rejectUnknownOptions(args, ["threads"], "Usage: x")).toThrow(new UsageError("unknown option --thredas\nUsage: x"));
    expect(() => rejectUnknownOptions(parseArgs(["--threads", "2"]), ["threads"], "Usage: x")).not.toThrow();
  });

  it("every subcommand's --bogus exits 64", async () => {
    const runs = await Promise.all([["info"], ["verify", "some-dir"], ["generate"], ["eval"]].map((command) => dittoAsync(...command, "--bogus", "1")));
    for (const run of runs) expect([run.status, run.stderr.split("\n")[0]]).toEqual([64, expect.stringMatching(/^ditto \w+: unknown option --bogus$/)]);
  });

  const generate: [string[], string][] = [
    [["--class", "3", "--upscale", "10000"], "--upscale expects an integer between 1 and 512 (the 32×32 image may grow to 16384 pixels a side) but received 10000"],
    [["--class", "3", "--upscale", "0"], "--upscale expects an integer between 1 and 512 (the 32×32 image may grow to 16384 pixels a side) but received 0"],
    [["--grid", "--upscale", "100"], "--upscale expects an integer between 1 and 47 (the 342×342 grid may grow to 16384 pixels a side) but received 100"],
    [["--class", "3", "--seed", "-1"], `--seed expects an integer between 0 and ${MAX} but received -1`],
    [["--class", "3", "--seed", "1.5"], `--seed expects an integer between 0 and ${MAX} but received 1.5`],
    [["--class", "3", "--n", "2", "--seed", String(MAX)], `--seed expects an integer between 0 and ${MAX - 1} (image i of 2 uses seed + i, which must stay a safe integer) but received ${MAX}`],
    [["--class", "3", "--steps", "0"], "--steps expects an integer between 1 and 10000 but received 0"],
    [["--class", "3", "--steps", "1e3"], "--steps expects an integer between 1 and 10000 but received 1e3"],
    [["--class", "3", "--steps="], "--steps needs a value"],
    [["--class", "3", "--n", "0"], "--n expects an integer between 1 and 10000 (at most 10000 images per run) but received 0"],
    [["--class", "3,4", "--n", "5001"], "--n expects an integer between 1 and 5000 (at most 10000 images per run) but received 5001"],
    [["--class", "3,,4"], '--class expects integers between 0 and 10 (10 = unconditional) but received ""'],
    [["--class", "11"], "--class expects integers between 0 and 10 (10 = unconditional) but received 11"],
    [["--class", "3", "--grid"], "--class and --grid cannot be used together"],
    [["--grid", "--n", "2"], "--n and --grid cannot be used together"],
    [["--class", "3", "--columns", "2"], "--columns needs --grid (--n sets the images per class)"],
    [["--grid", "--columns", "0"], "--columns expects a positive integer but received 0"],
    [["--grid", "--columns", "1000"], "--grid with 1000 columns makes 10000 images in a 34002×342 grid (10 classes × 1000); the most is 10000 images and 16384 pixels a side"],
    [["--grid=yes"], "--grid takes no value but received yes"],
    [["--class", "3", "--steps", "5", "--steps", "6"], "--steps given twice"],
    [["--class", "3", "--cfg", "abc"], "--cfg expects a number but received abc"],
    [["--class", "3", "--noise", "uniform"], "--noise expects philox or reference but received uniform"],
    [["--class", "3", "--dtype", "f16"], "--dtype expects f32 or bf16 but received f16"],
    [["--class", "3", "--device", "gpu"], "--device expects auto, cpu, cuda or cuda:N but received gpu"],
    [["--class", "3", "--threads", "0"], "--threads expects an integer between 1 and 1024 but received 0"],
    [["--class", "3", "--threads", "two"], "--threads expects an integer between 1 and 1024 but received two"],
    [["--class", "3", "--model", path.join(work, "nowhere")], `--model expects a folder but ${path.join(work, "nowhere")} is not one`],
    [["--class", "3", "--out", "x.bmp"], "--out expects a file ending in .png, .jpg, .jpeg, .webp, .avif, .tif or .tiff but received x.bmp"],
    [["--class", "3", "--out", work], `--out expects a file name but ${work} is a folder`],
    [["--class", "3", "--out", path.join(A_FILE, "x.png")], `--out cannot write ${path.join(A_FILE, "x.png")}: ${A_FILE} is not a folder`],
  ];
  it.each(generate)("ditto generate %j is a usage error before any work", async (argv, message) => {
    expect(await usageError("generate", [...argv, ...(argv.includes("--out") ? [] : ["--out", OUT])])).toBe(message);
    expect(existsSync(path.dirname(OUT))).toBe(false);
  });

  it("the built CLI exits 64 with only the message on stderr for the issue's cases", async () => {
    const issue = ["--upscale 10000", "--upscale 0", "--seed -1", "--seed 1.5", "--steps 0", "--n 0", "--grid"];
    const cases = generate.filter(([argv]) => argv[0] === "--class" && argv[1] === "3" && issue.includes(argv.slice(2).join(" ")));
    expect(cases).toHaveLength(issue.length);
    const runs = await Promise.all(cases.map(([argv]) => dittoAsync("generate", ...argv, "--out", OUT)));
    runs.forEach((run, k) => {
      expect({ argv: cases[k]![0], status: run.status, stderr: run.stderr, stdout: run.stdout })
        .toEqual({ argv: cases[k]![0], status: 64, stderr: `ditto generate: ${cases[k]![1]}\n`, stdout: "" });
    });
    expect(existsSync(path.dirname(OUT))).toBe(false);
  });

  it("ditto generate with no class, or with an extra argument, shows the usage", async () => {
    expect(await usageError("generate", [])).toBe(`give --class C (0…9, 10 = unconditional) or --grid\n${GENERATE_USAGE}`);
    expect(await usageError("generate", ["three", "--class", "3"])).toBe(`unexpected argument three\n${GENERATE_USAGE}`);
  });

  const evals: [string[], string][] = [
    [["--n", "0"], "--n expects a positive integer but received 0"],
    [["--n", "15"], "--n expects a multiple of 10 (the fixture's classes) but received 15"],
    [["--n", "10", "--seed-base", String(MAX - 5)], `--seed-base expects an integer between 0 and ${MAX - 9} (sample k of 10 uses seed-base + k, which must stay a safe integer) but received ${MAX - 5}`],
    [["--steps", "-2"], "--steps expects an integer between 1 and 10000 but received -2"],
    [["--batch", "0"], "--batch expects a positive integer but received 0"],
    [["--cfg", ""], "--cfg needs a value"],
    [["--cache", "bogus"], '--cache bogus: Unknown cache policy "bogus": expected one of none, firstBlock, dbCache, teaCache, magCache, fora, deltaDit, taylorSeer, easyCache, auto'],
    [["--cache", "auto:tolerance=-1"], "--cache auto:tolerance=-1: Expected number >= 0 for cache.tolerance but received -1"],
    [["--guidance", "pag:scale=x"], '--guidance pag:scale=x: Expected a number for guidance policy pag.scale but received "x"'],
    [["--save", path.join(A_FILE, "s.safetensors")], `--save cannot write ${path.join(A_FILE, "s.safetensors")}: ${A_FILE} is not a folder`],
    [["--fixture", path.join(work, "nowhere")], `--fixture expects a folder but ${path.join(work, "nowhere")} is not one`],
    [["--json=no"], "--json takes no value but received no"],
    [["--device", "gpu"], "--device expects auto, cpu, cuda or cuda:N but received gpu"],
  ];
  it.each(evals)("ditto eval %j is a usage error before any work", async (argv, message) => {
    expect(await usageError("eval", argv)).toBe(message);
  });

  it("ditto eval, verify and info refuse stray arguments; verify wants exactly one folder", async () => {
    expect(await usageError("eval", ["extra"])).toBe(`unexpected argument extra\n${EVAL_USAGE}`);
    expect(await usageError("verify", [])).toBe(`give a case folder\n${VERIFY_USAGE}`);
    expect(await usageError("verify", ["a", "b"])).toBe(`expected one folder but received a, b\n${VERIFY_USAGE}`);
    expect(await usageError("verify", ["--all", "a", "b"])).toBe(`expected one folder but received a, b\n${VERIFY_USAGE}`);
    expect(await usageError("verify", ["a", "--threads", "0"])).toBe("--threads expects an integer between 1 and 1024 but received 0");
    expect(await usageError("info", ["extra"])).toBe("unexpected argument extra\nUsage: ditto info [--json]");
  });

  it("caps --threads above the core count with a warning, and still generates", () => {
    const run = ditto("generate", "--class", "3", "--steps", "1", "--threads", String(CORES + 1), "--out", OUT, "--json");
    expect(run.status).toBe(0);
    expect(run.stderr.split("\n")[0]).toBe(`ditto: warning: --threads ${CORES + 1} is more than the ${CORES} cores available to this process; using ${CORES}`);
    expect(JSON.parse(run.stdout).files).toEqual([OUT]);
    expect(readdirSync(path.dirname(OUT))).toEqual(["x.png"]);
    rmSync(path.dirname(OUT), { recursive: true });
  });
});

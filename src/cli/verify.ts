// `ditto verify <case-dir>` and `ditto verify --all <dir>` (contracts.md). The last stdout line is the JSON result;
// progress goes to stderr.
//
// Exit codes, one case: 0 every checked output passes; 1 a check failed or the case could not be run;
//   2 unsupported family ({"case","pass":false,"error":"unsupported: <family>"}); 64 usage error.
// --all: one JSON line per case folder (sorted), then a summary line
//   {"summary":true,"cases","passed":[…],"failed":[…],"unsupported":[…],"pass"}; exit 0 when no supported case failed
//   and at least one passed (unsupported cases are listed, not counted as failures), 1 when any case failed,
//   2 when no case was supported.
import { isUnsupported, verifyAll, verifyCase, type VerifyCaseResult } from "../verify/index.js";
import { choiceOption, parseArgs, rejectUnknownOptions, threadsOption, UsageError } from "./args.js";

export const VERIFY_USAGE = `Usage: ditto verify <case-dir> [--threads N] [--dtype f32|bf16]
       ditto verify --all <dir> [--threads N] [--dtype f32|bf16]`;

/** The printed line keeps exactly the contract's keys. */
function publicResult(result: VerifyCaseResult): Record<string, unknown> {
  if (result.error !== undefined) return { case: result.case, pass: false, error: result.error };
  return { case: result.case, pass: result.pass, outputs: result.outputs ?? {}, skipped: result.skipped ?? [] };
}

function describe(result: VerifyCaseResult): string {
  if (result.error) return `${result.case}: ${result.error}`;
  const outputs = Object.entries(result.outputs ?? {});
  const failed = outputs.filter(([, o]) => !o.pass).map(([n]) => n);
  return `${result.case} (${result.family}): ${result.pass ? "PASS" : "FAIL"} ${outputs.length - failed.length}/${outputs.length} outputs` +
    (failed.length ? `; failed: ${failed.join(", ")}` : "") + (result.skipped?.length ? `; skipped ${result.skipped.length}` : "");
}

export async function runVerify(argv: readonly string[]): Promise<number> {
  // "all" is not a boolean flag: both `--all DIR` and `--all=DIR` name the folder.
  const args = parseArgs(argv, ["help"]);
  if (args.options.has("help")) {
    console.log(VERIFY_USAGE);
    return 0;
  }
  // Every option is checked here, before any case runs.
  rejectUnknownOptions(args, ["all", "help", "threads", "dtype"], VERIFY_USAGE);
  const all = args.options.get("all");
  const folders = [...(typeof all === "string" ? [all] : []), ...args.positionals];
  if (folders.length !== 1) {
    throw new UsageError(`${folders.length === 0 ? "give a case folder" : `expected one folder but received ${folders.join(", ")}`}\n${VERIFY_USAGE}`);
  }
  const dtype = choiceOption(args, "dtype", ["f32", "bf16"] as const);
  const threads = threadsOption(args);
  const options = { threads, dtype, log: (line: string) => process.stderr.write(`${line}\n`) };
  if (all !== undefined) {
    const dir = folders[0]!;
    const { summary } = await verifyAll(dir, options, (result) => {
      process.stderr.write(`${describe(result)}\n`);
      console.log(JSON.stringify(publicResult(result)));
    });
    console.log(JSON.stringify(summary));
    if (summary.failed.length > 0) return 1;
    return summary.passed.length > 0 ? 0 : 2;
  }
  const dir = folders[0]!;
  const result = await verifyCase(dir, options);
  process.stderr.write(`${describe(result)}\n`);
  console.log(JSON.stringify(publicResult(result)));
  if (isUnsupported(result)) return 2;
  return result.pass ? 0 : 1;
}

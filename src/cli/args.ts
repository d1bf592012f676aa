// The CLI's argv parser and option checks, shared by every subcommand: `--name value`, `--name=value`, boolean
// `--flag`, positionals. Every check throws UsageError (exit 64, message on stderr) and runs before any model is
// loaded, so a bad option never costs a generation (issue 22: `--upscale 10000` used to fail after the work).
import { accessSync, constants, statSync, type Stats } from "node:fs";
import path from "node:path";

import { capThreads, MAX_THREADS } from "../threads.js";

/** stat of `file`, or undefined when nothing is there (a file in the middle of the path included: ENOTDIR). */
export function statIfExists(file: string): Stats | undefined {
  try {
    return statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw e;
  }
}

export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string | true>;
}

export class UsageError extends Error {}

/** A repeated option is an error (which one was meant?), and so is a value given to a boolean flag (`--grid=3`). */
export function parseArgs(argv: readonly string[], booleanFlags: readonly string[] = []): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  const set = (name: string, value: string | true) => {
    if (options.has(name)) throw new UsageError(`--${name} given twice`);
    if (value !== true && booleanFlags.includes(name)) throw new UsageError(`--${name} takes no value but received ${value}`);
    options.set(name, value);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      if (eq > 0) set(arg.slice(2, eq), arg.slice(eq + 1));
      else if (booleanFlags.includes(arg.slice(2)) || i + 1 >= argv.length || argv[i + 1]!.startsWith("--")) set(arg.slice(2), true);
      else set(arg.slice(2), argv[++i]!);
    } else {
      positionals.push(arg);
    }
  }
  return { positionals, options };
}

/** Every subcommand rejects options it does not know (a typo must not be silently ignored). */
export function rejectUnknownOptions(args: ParsedArgs, known: readonly string[], usage: string): void {
  for (const key of args.options.keys()) if (!known.includes(key)) throw new UsageError(`unknown option --${key}\n${usage}`);
}

/** For subcommands that take no positional arguments. */
export function rejectPositionals(args: ParsedArgs, usage: string): void {
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${args.positionals[0]}\n${usage}`);
}

/** Options that contradict each other are an error rather than one silently winning. */
export function rejectTogether(args: ParsedArgs, a: string, b: string): void {
  if (args.options.has(a) && args.options.has(b)) throw new UsageError(`--${a} and --${b} cannot be used together`);
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.options.get(name);
  if (v === true || v === "") throw new UsageError(`--${name} needs a value`);
  return v;
}

export interface IntRange {
  min: number;
  max?: number;
  /** Why the range is what it is, appended in parentheses. */
  why?: string;
}

function describeRange({ min, max, why }: IntRange): string {
  const what = max !== undefined ? `an integer between ${min} and ${max}`
    : min === 1 ? "a positive integer" : min === 0 ? "a non-negative integer" : `an integer of at least ${min}`;
  return why ? `${what} (${why})` : what;
}

/** A decimal integer within `range` (no `1e3`, `0x10`, `1.5` or empty string). */
export function intOption(args: ParsedArgs, name: string, range: IntRange): number | undefined {
  const v = stringOption(args, name);
  if (v === undefined) return undefined;
  const n = /^\s*[+-]?\d+\s*$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < range.min || (range.max !== undefined && n > range.max)) {
    throw new UsageError(`--${name} expects ${describeRange(range)} but received ${v}`);
  }
  return n;
}

export function numberOption(args: ParsedArgs, name: string): number | undefined {
  const v = stringOption(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--${name} expects a number but received ${v}`);
  return n;
}

function orList(choices: readonly string[]): string {
  return choices.length === 1 ? choices[0]! : `${choices.slice(0, -1).join(", ")} or ${choices[choices.length - 1]}`;
}

export function choiceOption<T extends string>(args: ParsedArgs, name: string, choices: readonly T[]): T | undefined {
  const v = stringOption(args, name);
  if (v !== undefined && !(choices as readonly string[]).includes(v)) throw new UsageError(`--${name} expects ${orList(choices)} but received ${v}`);
  return v as T | undefined;
}

/** `--threads`: 1…MAX_THREADS, capped at the available cores with a warning on stderr (src/threads.ts). */
export function threadsOption(args: ParsedArgs): number | undefined {
  return capThreads(intOption(args, "threads", { min: 1, max: MAX_THREADS }), "--threads", (message) => process.stderr.write(`ditto: warning: ${message}\n`));
}

/** An existing folder (`--model`, `--fixture`). */
export function folderOption(args: ParsedArgs, name: string, fallback: string): string {
  const dir = stringOption(args, name) ?? fallback;
  if (!statIfExists(dir)?.isDirectory()) throw new UsageError(`--${name} expects a folder but ${dir} is not one`);
  return dir;
}

/**
 * A file the command will write (`--out`, `--save`): not a folder, its extension one of `extensions` (when given),
 * and its nearest existing ancestor a folder we may write into (missing folders below it are created on save).
 */
export function outputFileOption(args: ParsedArgs, name: string, fallback: string, extensions?: readonly string[]): string;
export function outputFileOption(args: ParsedArgs, name: string, fallback?: undefined, extensions?: readonly string[]): string | undefined;
export function outputFileOption(args: ParsedArgs, name: string, fallback?: string, extensions?: readonly string[]): string | undefined {
  const file = stringOption(args, name) ?? fallback;
  if (file === undefined) return undefined;
  if (statIfExists(file)?.isDirectory()) throw new UsageError(`--${name} expects a file name but ${file} is a folder`);
  const ext = path.extname(file).toLowerCase();
  if (extensions && !extensions.includes(ext)) throw new UsageError(`--${name} expects a file ending in ${orList(extensions)} but received ${file}`);
  let dir = path.dirname(path.resolve(file));
  while (!statIfExists(dir)) dir = path.dirname(dir);
  if (!statIfExists(dir)!.isDirectory()) throw new UsageError(`--${name} cannot write ${file}: ${dir} is not a folder`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UsageError(`--${name} cannot write ${file}: the folder ${dir} is not writable`);
  }
  return file;
}

// Tiny argv parser shared by the CLI subcommands: `--name value`, `--name=value`, boolean `--flag`, positionals.
export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string | true>;
}

export function parseArgs(argv: readonly string[], booleanFlags: readonly string[] = []): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      if (eq > 0) options.set(arg.slice(2, eq), arg.slice(eq + 1));
      else if (booleanFlags.includes(arg.slice(2)) || i + 1 >= argv.length || argv[i + 1]!.startsWith("--")) options.set(arg.slice(2), true);
      else options.set(arg.slice(2), argv[++i]!);
    } else {
      positionals.push(arg);
    }
  }
  return { positionals, options };
}

export class UsageError extends Error {}

/** Every subcommand rejects options it does not know (a typo must not be silently ignored). */
export function rejectUnknownOptions(args: ParsedArgs, known: readonly string[], usage: string): void {
  for (const key of args.options.keys()) if (!known.includes(key)) throw new UsageError(`unknown option --${key}\n${usage}`);
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.options.get(name);
  if (v === true) throw new UsageError(`--${name} needs a value`);
  return v;
}

export function intOption(args: ParsedArgs, name: string): number | undefined {
  const v = stringOption(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} expects an integer but received ${v}`);
  return n;
}

// What every benchmark script shares: the repository root (to load the built package and its vendored models) and
// the `--name value` option reader. The user-facing examples (demo.mjs, custom-loop.mjs) stay self-contained.
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The value after `--name` on the command line, or `fallback`. */
export function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

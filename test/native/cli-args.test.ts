// Every `ditto` subcommand (spawned from dist/, so this needs the build) rejects an unknown option with a usage error (exit 64) instead of silently ignoring it.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { parseArgs, rejectUnknownOptions, UsageError } from "../../src/cli/args.js";

const ROOT = path.resolve(new URL("../..", import.meta.url).pathname);
const CLI = path.join(ROOT, "dist/cli.js");

describe("CLI options", () => {
  it("rejectUnknownOptions names the option and shows the usage", () => {
    const args = parseArgs(["case-dir", "--thredas", "2"]);
    expect(() => rejectUnknownOptions(args, ["threads"], "Usage: x")).toThrow(new UsageError("unknown option --thredas\nUsage: x"));
    expect(() => rejectUnknownOptions(parseArgs(["--threads", "2"]), ["threads"], "Usage: x")).not.toThrow();
  });

  it.each([["info"], ["verify", "some-dir"], ["generate"], ["eval"]])("ditto %s --bogus exits 64", (...command) => {
    const run = spawnSync(process.execPath, [CLI, ...command, "--bogus", "1"], { encoding: "utf8", cwd: ROOT });
    expect(run.status).toBe(64);
    expect(run.stderr).toContain("unknown option --bogus");
  });
});

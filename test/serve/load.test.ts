// The load test (examples/bench-serve.mjs) at CI size: autocannon on loopback against the built `ditto serve`
// (dist/, so this needs the build). Below capacity every request answers 200 (none lost or failed); above it the
// surplus answers 429 and nothing else fails. Only counts are asserted, never times (the full-size run and its
// latency figures are in docs/reliability.md, "Service").
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { REPO_ROOT } from "../shared-paths.js";

describe("load test of ditto serve (autocannon, loopback)", () => {
  it("answers every request below capacity with 200 and the surplus above it with 429", () => {
    const run = spawnSync(process.execPath, [path.join(REPO_ROOT, "examples/bench-serve.mjs"), "--requests", "24", "--steps", "2",
      "--max-queue", "3", "--concurrency", "1", "--over", "4", "--threads", "1"], { encoding: "utf8", timeout: 240_000 });
    const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
    const below = lines.find((l) => l.phase === "below")!;
    const above = lines.find((l) => l.phase === "above")!;
    const summary = lines.at(-1)!;
    expect(below).toMatchObject({ answered: 24, codes: { "200": 24 }, errors: 0, timeouts: 0 });
    expect(above).toMatchObject({ answered: 24, errors: 0, timeouts: 0 });
    expect(Object.keys(above.codes).sort()).toEqual(["200", "429"]);
    expect(above.codes["429"]).toBeGreaterThan(0);
    expect(summary.failures).toEqual([]);
    expect(run.status, run.stderr).toBe(0);
  });
});

// The fuzzer's CI subset (issue 24, item 1): 2,000 cases of scripts/fuzz.mjs (safetensors, configs, SPEC strings,
// generate options, forward arguments, `ditto generate` flags) in two child-process batches. Zero crashes, zero
// hangs, and every failure a typed error naming the file for file inputs. The full run (100,000 cases) is the script.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

describe("fuzzing (CI subset)", () => {
  it("counts a crashing case and carries on after it (the harness itself)", () => {
    const child = spawnSync(process.execPath, [path.join(REPO_ROOT, "scripts/fuzz.mjs"), "--cases", "40", "--batch", "20", "--seed", "24", "--crash-at", "25"], { encoding: "utf8", timeout: 100_000 });
    const report = JSON.parse(child.stdout.trim().split("\n").pop()!) as {
      crashes: number; crashCases: { case: number; signal: string | null }[]; byKind: Record<string, { ok: number; typed: number; failed: number; crashed: number }>;
    };
    expect(report.crashes).toBe(1);
    expect(report.crashCases.map((c) => [c.case, c.signal])).toEqual([[25, "SIGABRT"]]);
    // The 5 cases before it in its batch [20, 40) are re-run by a fresh child, the 14 after it by another: 39 + 1.
    const counted = Object.values(report.byKind).reduce((a, k) => a + k.ok + k.typed + k.failed + k.crashed, 0);
    expect(counted).toBe(40);
    expect(child.status).toBe(1);
  }, 200_000);

  it("2,000 mutated inputs: no crash, no hang, every failure typed", () => {
    const child = spawnSync(process.execPath, [path.join(REPO_ROOT, "scripts/fuzz.mjs"), "--cases", "2000", "--batch", "1000", "--seed", "24", "--timeout", "200"], {
      encoding: "utf8",
      timeout: 400_000,
    });
    const report = JSON.parse(child.stdout.trim().split("\n").pop()!) as {
      cases: number; crashes: number; hangs: number; failures: number; crashCases: unknown[]; failureSamples: unknown[];
      byKind: Record<string, { ok: number; typed: number; failed: number; crashed: number }>;
    };
    expect({ crashes: report.crashes, hangs: report.hangs, failures: report.failures, crashCases: report.crashCases, failureSamples: report.failureSamples })
      .toEqual({ crashes: 0, hangs: 0, failures: 0, crashCases: [], failureSamples: [] });
    const counted = Object.values(report.byKind).reduce((a, k) => a + k.ok + k.typed + k.failed + k.crashed, 0);
    expect(counted).toBe(2000);
    // The mutations reach both outcomes for the file inputs (a fuzzer whose cases all fail early tests little).
    for (const kind of ["safetensors", "config", "options", "tensor"]) {
      expect(report.byKind[kind]!.ok).toBeGreaterThan(0);
      expect(report.byKind[kind]!.typed).toBeGreaterThan(0);
    }
    expect(child.status).toBe(0);
  }, 400_000);
});

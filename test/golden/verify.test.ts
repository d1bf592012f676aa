// `ditto verify` on the DiT golden cases, through the library (verifyCase / verifyAll) and through the built CLI
// (node dist/cli.js, the package's bin): every produced output passes its per-tensor tolerance, unsupported
// families answer exit code 2, and the JSON line follows contracts.md. Skipped when ../shared is absent.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.js";
import { compareArrays } from "../../src/verify/compare.js";
import { verifyAll, verifyCase } from "../../src/verify/index.js";
import { GOLDEN, HAS_GOLDEN, REPO_ROOT } from "../shared-paths.js";

const CLI = path.join(REPO_ROOT, "dist/cli.js");

function runCli(args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, encoding: "utf8", timeout: 180_000 });
  const lines = result.stdout.trim().split("\n").filter(Boolean);
  return { status: result.status, lines, last: lines.length ? JSON.parse(lines[lines.length - 1]!) : undefined, stderr: result.stderr };
}

describe("tolerance rule", () => {
  it("passes iff |a-b| <= atol + rtol|b| everywhere and reports the worst ratio", () => {
    const ok = compareArrays([1.0001, -2], [1, -2], { atol: 1e-4, rtol: 1e-5 });
    expect(ok.pass).toBe(true);
    expect(ok.worstRatio).toBeCloseTo(1e-4 / (1e-4 + 1e-5), 3);
    const bad = compareArrays([1.01, 0], [1, 0], { atol: 1e-4, rtol: 1e-5 });
    expect(bad.pass).toBe(false);
    expect(bad.maxAbsErr).toBeCloseTo(0.01, 6);
    expect(compareArrays([NaN], [0], { atol: 1, rtol: 0 }).pass).toBe(false);
    expect(compareArrays([1, 2], [1], { atol: 1, rtol: 0 }).pass).toBe(false);
  });
});

describe.skipIf(!HAS_GOLDEN)("verify golden DiT cases", () => {
  const tmp = mkdtempSync(path.join(tmpdir(), "ditto-verify-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  for (const name of ["dit-official", "dit-diffusers"]) {
    it(`${name} passes every output it produces (API)`, async () => {
      const result = await verifyCase(path.join(GOLDEN, name), { threads: 2 });
      expect(result.error).toBeUndefined();
      expect(result.pass).toBe(true);
      const outputs = Object.keys(result.outputs!);
      expect(outputs).toContain("out");
      for (const [output, r] of Object.entries(result.outputs!)) {
        expect(r.pass, output).toBe(true);
        expect(r.worstRatio!).toBeLessThanOrEqual(1);
      }
      // Everything that is not the DDIM trajectory is produced by the engine itself.
      expect(result.skipped!.filter((n) => !n.startsWith("ddim."))).toEqual([]);
    });
  }

  it("dit-official includes the intermediates and forward_with_cfg", async () => {
    const result = await verifyCase(path.join(GOLDEN, "dit-official"), { threads: 2 });
    expect(Object.keys(result.outputs!)).toEqual(expect.arrayContaining(["cfg.out", "t_freq", "c", "blocks.3.out", "final_layer.out", "x_embed"]));
  });

  it.skipIf(!existsSync(CLI))("CLI prints one contract JSON line and exits 0", () => {
    const { status, last } = runCli(["verify", path.join(GOLDEN, "dit-official")]);
    expect(status).toBe(0);
    expect(Object.keys(last)).toEqual(["case", "pass", "outputs", "skipped"]);
    expect(last.case).toBe("dit-official");
    expect(last.pass).toBe(true);
    expect(Object.keys(last.outputs.out)).toEqual(["maxAbsErr", "worstRatio", "atol", "rtol", "pass"]);
    const diffusers = runCli(["verify", path.join(GOLDEN, "dit-diffusers")]);
    expect(diffusers.status).toBe(0);
    expect(diffusers.last).toMatchObject({ case: "dit-diffusers", pass: true, skipped: [] });
  });

  it.skipIf(!existsSync(CLI))("CLI: unsupported family exits 2 with the contract error", () => {
    // Every golden family is supported now: a case of a class the engine does not run.
    const dir = path.join(tmp, "hunyuan");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "config.json"), JSON.stringify({ reference: { class: "diffusers.HunyuanDiT2DModel" } }));
    copyFileSync(path.join(GOLDEN, "dit-official/io.safetensors"), path.join(dir, "io.safetensors"));
    const { status, last } = runCli(["verify", dir]);
    expect(status).toBe(2);
    expect(last).toEqual({ case: "hunyuan", pass: false, error: "unsupported: unknown" });
  });

  it("answers unsupported for tensor names no family recognises when config.json is absent", async () => {
    const dir = path.join(tmp, "mystery");
    mkdirSync(dir, { recursive: true });
    writeSafetensors(path.join(dir, "model.safetensors"), { "mystery_blocks.0.weight": { dtype: "F32", shape: [2], data: new Float32Array(2) } });
    copyFileSync(path.join(GOLDEN, "dit-official/io.safetensors"), path.join(dir, "io.safetensors"));
    expect(await verifyCase(dir)).toEqual({ case: "mystery", pass: false, error: "unsupported: unknown" });
  });

  it("a perturbed reference fails exactly that output (pass: false, exit 1)", async () => {
    const dir = path.join(tmp, "dit-official-perturbed");
    mkdirSync(dir, { recursive: true });
    for (const f of ["config.json", "model.safetensors"]) copyFileSync(path.join(GOLDEN, "dit-official", f), path.join(dir, f));
    const io = readSafetensors(path.join(GOLDEN, "dit-official/io.safetensors"));
    const out = io.tensors.get("out")!;
    const perturbed = Float32Array.from(out.data as Float32Array);
    perturbed[123] += 2e-3; // ~10x the atol of `out`; the GELU-erf mistake moves it by 5e-4
    io.tensors.set("out", { ...out, data: perturbed });
    writeSafetensors(path.join(dir, "io.safetensors"), io.tensors, io.metadata);
    const result = await verifyCase(dir, { threads: 2 });
    expect(result.pass).toBe(false);
    expect(result.outputs!.out!.pass).toBe(false);
    expect(result.outputs!.out!.worstRatio!).toBeGreaterThan(1);
    expect(result.outputs!["final_layer.out"]!.pass).toBe(true);
    if (existsSync(CLI)) expect(runCli(["verify", dir]).status).toBe(1);
  });

  it.skipIf(!existsSync(CLI))("--all prints one line per case and a summary", () => {
    const { status, lines, last } = runCli(["verify", "--all", GOLDEN]);
    expect(last.summary).toBe(true);
    expect(last.passed).toEqual(expect.arrayContaining(["dit-official", "dit-diffusers", "vae-kl"]));
    expect(last.failed).toEqual([]);
    expect(lines.length).toBe(last.cases + 1);
    expect(status).toBe(0);
  });

  it("verifyAll reports the same summary", async () => {
    const { summary, results } = await verifyAll(GOLDEN, { threads: 2 });
    expect(summary.cases).toBe(results.length);
    expect(summary.failed).toEqual([]);
  });
});

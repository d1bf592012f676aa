// The eval harness on the glyph fixture at a tiny N: result fields, --save layout, the MAC count, policy errors, and
// the CLI contract (ONE JSON line last on stdout with exactly the contract's keys) when the CLI is built.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { runEval } from "../../src/eval/harness.js";
import { readSafetensors } from "../../src/io/safetensors.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURE = path.join(ROOT, "../shared/fixtures/glyphs");
const CLI = path.join(ROOT, "dist/cli.js");
const dir = mkdtempSync(path.join(tmpdir(), "ditto-eval-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CONTRACT_KEYS = ["fd", "acc", "psnr", "ssim", "macs", "macsUncached", "wallMs", "peakBytes", "blocksComputed", "blocksReused", "cacheBytes", "n", "steps", "cfg", "seedBase", "noise"];
const CACHE_KEYS = ["fdUncached", "accUncached", "wallMsUncached", "cache"];

describe.skipIf(!existsSync(FIXTURE))("ditto eval harness", () => {
  it("evaluates N samples with protocol labels and seeds and saves them", async () => {
    const save = path.join(dir, "run.safetensors");
    const result = await runEval({ fixture: FIXTURE, n: 20, steps: 2, cfg: 2, seedBase: 12345, noise: "reference", save, threads: 2 });
    expect(Object.keys(result).sort()).toEqual([...CONTRACT_KEYS].sort());
    expect(result).toMatchObject({ n: 20, steps: 2, cfg: 2, seedBase: 12345, noise: "reference", psnr: null, ssim: null });
    expect(result.fd).toBeGreaterThan(0);
    expect(result.acc).toBeGreaterThanOrEqual(0);
    expect(result.acc).toBeLessThanOrEqual(1);
    expect(result.macs).toBe(20 * 2 * 2 * 181972992); // N · 2 passes (CFG) · steps · dit.json macs_per_forward.total
    expect(result.macsUncached).toBe(result.macs);
    const saved = readSafetensors(save);
    expect(saved.tensors.get("images")).toMatchObject({ dtype: "U8", shape: [20, 32, 32, 3] });
    expect(saved.tensors.get("labels")).toMatchObject({ dtype: "I64", shape: [20] });
    expect(Array.from(saved.tensors.get("labels")!.data as BigInt64Array, Number)).toEqual(Array.from({ length: 20 }, (_, k) => Math.floor(k / 2)));
  });

  it("with a cache policy also runs the uncached set on the same seeds and reports both", async () => {
    const result = await runEval({ fixture: FIXTURE, n: 10, steps: 8, cfg: 4, seedBase: 10000, cache: "fora:interval=2", threads: 2 });
    expect(Object.keys(result).sort()).toEqual([...CONTRACT_KEYS, ...CACHE_KEYS].sort());
    expect(result.cache).toBe("fora:interval=2,warmupSteps=0");
    expect(result.macs).toBeLessThan(0.6 * result.macsUncached);
    expect(result.macsUncached).toBe(10 * 2 * 8 * 181972992);
    expect(result.blocksReused).toBe(10 * 2 * 4 * 6); // every other step reuses all six blocks
    expect(result.blocksComputed + result.blocksReused).toBe(10 * 2 * 8 * 6);
    expect(result.cacheBytes).toBeGreaterThan(0);
    expect(result.psnr).toBeGreaterThan(20);
    expect(result.psnr).toBeLessThan(Infinity); // the images differ from the uncached ones
    expect(result.fdUncached).toBeGreaterThan(0);
    expect(result.wallMsUncached).toBeGreaterThan(0);
  });

  it("with a guidance method and a cache policy compares against the same guidance uncached", async () => {
    // fora:interval=1 computes every block: the cached run IS the uncached APG run (not plain CFG 4, as before).
    const result = await runEval({ fixture: FIXTURE, n: 10, steps: 3, cfg: 4, seedBase: 10000, cache: "fora:interval=1", guidance: "apg:cfgScale=6", threads: 2 });
    expect(result).toMatchObject({ guidance: "apg:cfgScale=6,eta=0,momentum=-0.5,normThreshold=10", blocksReused: 0, psnr: 100 }); // identical images: PSNR at its 100 dB cap
    expect(result.fdUncached).toBe(result.fd);
    expect(result.accUncached).toBe(result.acc);
  });

  it("refuses bad N and policies it cannot run, before generating", async () => {
    await expect(runEval({ fixture: FIXTURE, n: 15, steps: 2, cfg: 2, seedBase: 0 }))
      .rejects.toThrow("Expected a multiple of 10 (the number of classes) for n but received 15");
    await expect(runEval({ fixture: FIXTURE, n: 10, steps: 2, cfg: 2, seedBase: 0, cache: "nope" }))
      .rejects.toThrow(/^Unknown cache policy "nope"/);
    await expect(runEval({ fixture: FIXTURE, n: 10, steps: 2, cfg: 2, seedBase: 0, cache: "firstBlock:threshold=-1" }))
      .rejects.toThrow("Expected number >= 0 for cache.threshold but received -1");
    await expect(runEval({ fixture: FIXTURE, n: 10, steps: 2, cfg: 2, seedBase: 0, guidance: "slg:bogus=1" }))
      .rejects.toThrow('Unknown parameter "bogus" for guidance policy slg: expected one of layers, scale, cfgScale, start, stop, sigmaLo, sigmaHi');
  });

  it.skipIf(!existsSync(CLI))("prints ONE JSON line last on stdout with the contract's keys", () => {
    const run = spawnSync(process.execPath, [CLI, "eval", "--fixture", FIXTURE, "--n", "10", "--steps", "2", "--cfg", "1", "--seed-base", "7", "--json"], {
      encoding: "utf8", cwd: ROOT,
    });
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.trim().split("\n");
    const json = JSON.parse(lines[lines.length - 1]!);
    expect(Object.keys(json)).toEqual(CONTRACT_KEYS);
    expect(json).toMatchObject({ n: 10, steps: 2, cfg: 1, seedBase: 7, noise: "philox", psnr: null, ssim: null, macs: 10 * 2 * 181972992 });
    const bad = spawnSync(process.execPath, [CLI, "eval", "--fixture", FIXTURE, "--n", "10", "--cache", "fancy", "--json"], { encoding: "utf8", cwd: ROOT });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('Unknown cache policy "fancy"');
  });
});

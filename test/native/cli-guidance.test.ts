// The guidance commands' usage errors, raised before any model loads (exit 64 with these messages): an unknown
// --guidance key, --cfg with a method, analyze-blocks' α list and N, tune-guidance's method and its refusal of the
// report seeds (tuning seeds start at 10000: never pick and report on the same seeds).
import { describe, expect, it } from "vitest";

import { runAnalyzeBlocks } from "../../src/cli/analyzeBlocks.js";
import { UsageError } from "../../src/cli/args.js";
import { runEvalCommand } from "../../src/cli/eval.js";
import { runGenerate } from "../../src/cli/generate.js";
import { guidanceChoice } from "../../src/cli/guidanceOption.js";
import { runTuneGuidance } from "../../src/cli/tuneGuidance.js";

const FIXTURE = new URL("../../examples/models/glyphs", import.meta.url).pathname;

async function usageError(run: (argv: readonly string[]) => Promise<number>, argv: string[]): Promise<string> {
  try {
    await run(argv);
  } catch (e) {
    if (e instanceof UsageError) return e.message;
    throw e;
  }
  throw new Error(`${argv.join(" ")} did not fail`);
}

describe("guidance CLI", () => {
  it("eval --guidance: an unknown key or method is a usage error", async () => {
    expect(await usageError(runEvalCommand, ["--fixture", FIXTURE, "--guidance", "slg:layerz=3"]))
      .toBe('--guidance slg:layerz=3: Unknown parameter "layerz" for guidance policy slg: expected one of layers, scale, cfgScale, start, stop, sigmaLo, sigmaHi');
    expect(await usageError(runEvalCommand, ["--fixture", FIXTURE, "--guidance", "autoguide"]))
      .toMatch(/^--guidance autoguide: Unknown guidance policy "autoguide": expected one of cfg, auto, autoguidance, /);
    expect(await usageError(runGenerate, ["--class", "3", "--guidance", "pag:layers=x"]))
      .toBe(`--guidance pag:layers=x: Expected non-negative integers joined by '+' for guidance policy pag.layers but received "x"`);
  });

  it("--cfg G is the CFG scale inside the method; without it the method's own (auto: the model's recommended scale)", () => {
    expect(guidanceChoice("auto", undefined, 4)).toMatchObject({ spec: "autoguidance:weakRank=0.6,scale=1.25,cfgScale=4,refreshEvery=2,weakSigmaLo=0.5,weakUncond=1", cfg: 4 });
    expect(guidanceChoice("auto", undefined, 5)).toMatchObject({ spec: "autoguidance:weakRank=0.6,scale=1.25,cfgScale=5,refreshEvery=2,weakSigmaLo=0.5,weakUncond=1", cfg: 5 });
    expect(guidanceChoice("auto", 3, 4)).toMatchObject({ spec: "autoguidance:weakRank=0.6,scale=1.25,cfgScale=3,refreshEvery=2,weakSigmaLo=0.5,weakUncond=1", cfg: 3 });
    expect(guidanceChoice("slg:layers=2,sigmaHi=0.9", 5, 4)).toMatchObject({ spec: "slg:layers=2,scale=2.8,cfgScale=5,start=0.01,stop=0.2,sigmaLo=0,sigmaHi=0.9", cfg: 5 });
    expect(guidanceChoice("autoguidance:alpha=0.5,scale=2", undefined, 4).cfg).toBe(1);
  });

  it("analyze-blocks and tune-guidance check their options before loading anything", async () => {
    expect(await usageError(runAnalyzeBlocks, ["--fixture", FIXTURE, "--alphas", "0.5,1"])).toBe("--alphas expects numbers other than 0 and 1 joined by ',' but received 0.5,1");
    expect(await usageError(runAnalyzeBlocks, ["--fixture", FIXTURE, "--n", "15"])).toBe("--n expects a multiple of 10 (the fixture's classes) but received 15");
    expect(await usageError(runTuneGuidance, ["--fixture", FIXTURE])).toMatch(/^--method is required: one of cfg, interval, schedule, autoguidance, /);
    expect(await usageError(runTuneGuidance, ["--fixture", FIXTURE, "--method", "apg", "--seed-base", "0"]))
      .toBe("--seed-base expects an integer between 10000 and 9007199254740892 (tuning seeds start at 10000; smaller bases are the report seeds) but received 0");
  });
});

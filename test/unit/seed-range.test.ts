// Seeds of a run (issue 22, defect 9): sample i uses seed + i, so a base seed near Number.MAX_SAFE_INTEGER with
// several samples is refused with a message that says why and reports the value the caller passed (not seed + i).
import path from "node:path";

import { describe, expect, it } from "vitest";

import { runEval } from "../../src/eval/harness.js";
import { checkGenerateOptions } from "../../src/pipeline/options.js";
import { REPO_ROOT } from "../shared-paths.js";

const DEFAULTS = { steps: 10, guidanceScale: 4, numClasses: 10 };
const MAX = Number.MAX_SAFE_INTEGER;

describe("base seed range", () => {
  it("generate({ seed }) names the rule and the value passed", () => {
    expect(() => checkGenerateOptions({ classLabels: [1, 2], seed: MAX }, DEFAULTS)).toThrow(new RangeError(
      `Expected integer between 0 and ${MAX - 1} (sample i of 2 uses seed + i, which must stay a safe integer) for seed but received ${MAX}`,
    ));
    expect(() => checkGenerateOptions({ classLabels: [1], seed: -1 }, DEFAULTS)).toThrow(new RangeError(
      `Expected integer between 0 and ${MAX} for seed but received -1`,
    ));
    expect(checkGenerateOptions({ classLabels: [1, 2], seed: MAX - 1 }, DEFAULTS).seeds).toEqual([MAX - 1, MAX]);
    expect(checkGenerateOptions({ classLabels: [1], seed: MAX }, DEFAULTS).seeds).toEqual([MAX]);
  });

  it("eval's seedBase follows the same rule before any model is loaded", async () => {
    const fixture = path.join(REPO_ROOT, "examples/models/glyphs");
    await expect(runEval({ fixture, n: 10, steps: 2, cfg: 4, seedBase: MAX - 5 })).rejects.toThrow(new RangeError(
      `Expected integer between 0 and ${MAX - 9} (sample i of 10 uses seedBase + i, which must stay a safe integer) for seedBase but received ${MAX - 5}`,
    ));
  });
});

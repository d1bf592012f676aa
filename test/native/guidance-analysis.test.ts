// Block analysis and guidance tuning through the TS API on the glyph DiT at a tiny size (N 10, one step: the shape
// of the results, not their values): analyzeBlocks returns the reference and one row per block × action with
// fidelity against the reference (a scale α = 1 would be the reference itself, so it is refused), the heat map has
// one cell per row; tuneGuidance measures `budget` evenly spaced grid points next to CFG, picks only among those that
// keep ACC, and refuses the report seeds.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { analyzeBlocks, heatmapImage } from "../../src/eval/blocks.js";
import { QualityMeter } from "../../src/eval/meter.js";
import { TUNING_GRIDS, tuneGuidance } from "../../src/eval/tune.js";

const FIXTURE = new URL("../../examples/models/glyphs", import.meta.url).pathname;
let meter: QualityMeter;
beforeAll(async () => { meter = await QualityMeter.open(FIXTURE, { threads: 2 }); });
afterAll(async () => { await meter?.dispose(); });

describe("analyzeBlocks / tuneGuidance", () => {
  it("analyzeBlocks: every block skipped and scaled, PSNR against the reference, a heat map cell per row", async () => {
    const a = await analyzeBlocks(meter, { n: 10, steps: 1, seedBase: 10_000, alphas: [0.5] });
    const depth = meter.pipeline.model.config.depth;
    expect(a.rows.map((r) => [r.block, r.action, r.alpha])).toEqual(Array.from({ length: depth }, (_, b) => [[b, "skip", null], [b, "scale", 0.5]]).flat());
    expect(a.reference).toMatchObject({ block: -1, action: "none", psnr: null });
    for (const r of a.rows) expect(r.psnr! < 100 && r.ssim! < 1 && Number.isFinite(r.fd)).toBe(true);
    const img = heatmapImage(a, 8);
    expect([img.width, img.height]).toEqual([2 * 8, depth * 8]);
    await expect(analyzeBlocks(meter, { n: 10, steps: 1, seedBase: 10_000, alphas: [1] })).rejects.toThrow(new RangeError("Expected finite number other than 0 (a skip) and 1 (no change) for alphas[0] but received 1"));
  });

  it("tuneGuidance: budget points of the grid, chosen among those keeping ACC; report seeds refused", async () => {
    const r = await tuneGuidance(meter, { method: "apg", budget: 2, n: 10, steps: 1, seedBase: 10_000 });
    const grid = TUNING_GRIDS.apg!(6, 4);
    expect(r.trials.map((t) => t.spec)).toEqual([grid[0], grid[Math.floor(grid.length / 2)]].map((g) => `apg:cfgScale=${g!.cfgScale},eta=${g!.eta},momentum=-0.5,normThreshold=${g!.normThreshold}`));
    const kept = r.trials.filter((t) => t.acc >= r.reference.acc).sort((a, b) => a.fd - b.fd);
    expect(r.chosen).toBe(kept[0]?.spec ?? null);
    await expect(tuneGuidance(meter, { method: "apg", n: 10, steps: 1, seedBase: 0 })).rejects.toThrow(/^Expected tuning seed base of at least 10000 \(seeds below are the report seeds/);
  });
});

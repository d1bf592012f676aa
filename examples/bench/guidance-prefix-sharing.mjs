// Prefix sharing in guidance (docs/guidance.md, "Cost"): network evaluations per step (MACs counted by the executor ÷ one
// forward's) of one guided step with shared prefixes and without (sharePrefixes: false), per method. Counts, not timings.
//   node examples/bench/guidance-prefix-sharing.mjs [fixture-dir]
import { loadModel, Tensor, ClassifierFreeGuidance, guiderFrom } from "../../dist/index.js";
const model = await loadModel(process.argv[2] ?? "../shared/fixtures/glyphs", {});
const depth = model.config.depth, B = 4;
const x = Tensor.from(new Float32Array(B * 3 * 32 * 32).map((_, i) => Math.sin(i)), [B, 3, 32, 32]);
const labels = new Int32Array(B).fill(3), nul = new Int32Array(B).fill(10);
const step = { index: 10, total: 50, sigma: 0.8, t: 800, depth };
const methods = { "cfg:scale=4": new ClassifierFreeGuidance({ scale: 4 }), "autoguidance:alpha=0.8,from=0.5,scale=2,cfgScale=4": guiderFrom("autoguidance:alpha=0.8,from=0.5,scale=2,cfgScale=4"),
  "autoguidance:alpha=0.8,from=0,scale=2,cfgScale=4": guiderFrom("autoguidance:alpha=0.8,from=0,scale=2,cfgScale=4"), "slg:layers=4,scale=2,start=0,stop=1": guiderFrom("slg:layers=4,scale=2,start=0,stop=1"), "pag:layers=5,scale=1": guiderFrom("pag:layers=5,scale=1") };
const perForward = model.macsPerSample().total;
for (const [name, g] of Object.entries(methods)) {
  const row = { method: name };
  for (const share of [true, false]) {
    const s = model.session();
    const branches = g.branches(step).map((b) => {
      const acts = Object.entries(b.plan.blocks);
      const actions = acts.length ? Array.from({ length: depth }, (_, i) => b.plan.blocks[i] ?? { kind: "compute" }) : undefined;
      return { key: b.name, labels: b.condition === "null" ? nul : labels, ...(actions ? { actions } : {}) };
    });
    const r = await s.step(x, new Float32Array(B).fill(800), { branches, sharePrefixes: share, returnBranchOutputs: false });
    row[share ? "evalsPerStepShared" : "evalsPerStepUnshared"] = +(r.macs / B / perForward).toFixed(4);
    s.dispose();
  }
  console.log(JSON.stringify(row));
}
model.dispose();

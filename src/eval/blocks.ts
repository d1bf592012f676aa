// Block analysis, the research's first step (docs/guidance.md, "Block analysis"; the fixture's skip_sweep is the
// same measurement for skips): for every block of the model, FD / ACC of the images with that block skipped, and
// scaled by a few gains α (h + α·(block(h) − h); α < 1 weakens, α > 1 strengthens), in both CFG passes, plus PSNR /
// SSIM against the unperturbed run on the same seeds. The table says which blocks are load-bearing and how far a
// block can be weakened or amplified — what guidance methods that perturb blocks are built from. `heatmapImage`
// draws it (rows: blocks, columns: actions, colour: log FD ratio to the unperturbed run).
import { rangeError, typeError } from "../errors.js";
import { PerturbedBranch } from "../guidance/branches.js";
import type { GuidanceBranch, GuidanceCombination, GuidanceStep, Guider } from "../guidance/guider.js";
import { ClassifierFreeGuidance } from "../guidance/cfg.js";
import { linearGuidance } from "../guidance/terms.js";
import { Image } from "../images/image.js";
import type { Perturbation } from "../guidance/weak.js";
import type { MeasureOptions, QualityMeter } from "./meter.js";

export interface BlockAnalysisOptions extends MeasureOptions {
  /** CFG scale of both passes (default: the model's recommended one). */
  cfg?: number;
  /** Gains α to try on each block besides the skip (default 0.5, 0.8, 1.2, 1.5). */
  alphas?: readonly number[];
  onRow?: (row: BlockAnalysisRow) => void;
}

export interface BlockAnalysisRow {
  /** Block index, or −1 for the unperturbed reference. */
  block: number;
  /** "none" (reference), "skip" or "scale". */
  action: "none" | "skip" | "scale";
  alpha: number | null;
  fd: number;
  acc: number;
  psnr: number | null;
  ssim: number | null;
}

export interface BlockAnalysis {
  n: number;
  steps: number;
  seedBase: number;
  cfg: number;
  alphas: number[];
  depth: number;
  reference: BlockAnalysisRow;
  rows: BlockAnalysisRow[];
}

/** CFG with the same perturbation in the conditional and the unconditional pass (as baseline.json's skip_sweep). */
class PerturbedCfg implements Guider {
  readonly kind = "perturbedCfg";
  readonly #cond: PerturbedBranch;
  readonly #uncond: PerturbedBranch;
  readonly #scale: number;

  constructor(p: Perturbation, scale: number) {
    this.#cond = new PerturbedBranch("cond", [p], "class");
    this.#uncond = new PerturbedBranch("uncond", [p], "null");
    this.#scale = scale;
  }

  #lg(step: GuidanceStep) {
    const c = this.#cond.at(step.depth), u = this.#uncond.at(step.depth);
    return this.#scale === 1 ? linearGuidance(c, []) : linearGuidance(u, [{ plus: c, minus: u, scale: this.#scale }]);
  }

  branches(step: GuidanceStep): readonly GuidanceBranch[] {
    return this.#lg(step).branches;
  }

  combination(step: GuidanceStep): GuidanceCombination {
    return this.#lg(step).combination;
  }

  toJSON(): never {
    throw new RangeError("a block-analysis guider has no SPEC form");
  }
}

export async function analyzeBlocks(meter: QualityMeter, options: BlockAnalysisOptions): Promise<BlockAnalysis> {
  if (options === null || typeof options !== "object") throw typeError("object", "options", options);
  const alphas = [...(options.alphas ?? [0.5, 0.8, 1.2, 1.5])];
  alphas.forEach((a, i) => { if (typeof a !== "number" || !Number.isFinite(a) || a === 0 || a === 1) throw rangeError("finite number other than 0 (a skip) and 1 (no change)", `alphas[${i}]`, a); });
  const cfg = options.cfg ?? meter.pipeline.recommended.guidanceScale;
  if (typeof cfg !== "number" || !Number.isFinite(cfg)) throw typeError("finite number", "cfg", cfg);
  const depth = meter.pipeline.model.config.depth;
  const base = await meter.measure(new ClassifierFreeGuidance({ scale: cfg }), options);
  const reference: BlockAnalysisRow = { block: -1, action: "none", alpha: null, fd: base.fd, acc: base.acc, psnr: null, ssim: null };
  options.onRow?.(reference);
  const rows: BlockAnalysisRow[] = [];
  for (let block = 0; block < depth; block++) {
    for (const alpha of [0, ...alphas]) {
      const p: Perturbation = alpha === 0 ? { kind: "skip", layers: [block] } : { kind: "scale", alpha, layers: [block] };
      const m = await meter.measure(new PerturbedCfg(p, cfg), options);
      const f = meter.fidelity(m, base);
      const row: BlockAnalysisRow = { block, action: alpha === 0 ? "skip" : "scale", alpha: alpha === 0 ? null : alpha, fd: m.fd, acc: m.acc, psnr: f.psnr, ssim: f.ssim };
      rows.push(row);
      options.onRow?.(row);
    }
  }
  return { n: options.n, steps: options.steps, seedBase: options.seedBase, cfg, alphas, depth, reference, rows };
}

/**
 * The table as a heat map: one row per block, one column per action (skip, then the α values), each cell
 * `cell`×`cell` pixels coloured by log2(FD / FD_reference): white at 0, red when worse (saturating at 8×), blue
 * when better (saturating at ½).
 */
export function heatmapImage(analysis: BlockAnalysis, cell = 24): Image {
  const cols = 1 + analysis.alphas.length, rows = analysis.depth;
  const width = cols * cell, height = rows * cell;
  const data = new Uint8Array(width * height * 3);
  analysis.rows.forEach((row, k) => {
    const r = Math.floor(k / cols), c = k % cols;
    const ratio = Math.log2(row.fd / analysis.reference.fd);
    const t = ratio >= 0 ? Math.min(1, ratio / 3) : Math.min(1, -ratio);
    const rgb = ratio >= 0 ? [255, 255 * (1 - t), 255 * (1 - t)] : [255 * (1 - t), 255 * (1 - t), 255];
    for (let y = r * cell; y < (r + 1) * cell; y++) for (let x = c * cell; x < (c + 1) * cell; x++) {
      const edge = x % cell === 0 || y % cell === 0;
      for (let ch = 0; ch < 3; ch++) data[(y * width + x) * 3 + ch] = edge ? 128 : Math.round(rgb[ch]!);
    }
  });
  return new Image(data, width, height, 3);
}

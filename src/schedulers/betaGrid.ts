// Discrete timestep grids of the beta-based diffusers schedulers (timestep_spacing "linspace" / "leading" /
// "trailing", Table 2 of Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed"),
// computed with numpy's float64 rules and round-half-to-even so they match diffusers exactly.
import { numberOption, stringOption } from "./base.js";
import { numpyArange, numpyLinspace, roundHalfEven, type BetaConfig } from "./numerics.js";

export type TimestepSpacing = "linspace" | "leading" | "trailing";
export const TIMESTEP_SPACINGS: readonly TimestepSpacing[] = ["linspace", "leading", "trailing"];

/** The training-grid options every beta-based scheduler (DDIM, Euler, DPM-Solver) reads, with diffusers' names. */
export interface BetaGridConfig extends BetaConfig {
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
}

/** Reads the shared training-grid options from a camelCased config; defaults differ per scheduler. */
export function betaGridOptions(c: Record<string, unknown>, defaults: BetaGridConfig): BetaGridConfig {
  return {
    numTrainTimesteps: numberOption(c, "numTrainTimesteps", defaults.numTrainTimesteps),
    betaStart: numberOption(c, "betaStart", defaults.betaStart),
    betaEnd: numberOption(c, "betaEnd", defaults.betaEnd),
    betaSchedule: stringOption(c, "betaSchedule", ["linear", "scaled_linear"], defaults.betaSchedule),
    timestepSpacing: stringOption(c, "timestepSpacing", TIMESTEP_SPACINGS, defaults.timestepSpacing),
    stepsOffset: numberOption(c, "stepsOffset", defaults.stepsOffset),
  };
}

/** DDIM / Euler: n timesteps in descending order (floats before any integer cast). */
export function spacedTimesteps(spacing: TimestepSpacing, n: number, numTrain: number, stepsOffset: number): number[] {
  if (spacing === "linspace") return numpyLinspace(0, numTrain - 1, n).reverse();
  if (spacing === "leading") {
    const ratio = Math.floor(numTrain / n);
    return Array.from({ length: n }, (_, i) => roundHalfEven(i * ratio) + stepsOffset).reverse();
  }
  return numpyArange(numTrain, 0, -numTrain / n).map((t) => roundHalfEven(t) - 1);
}

/** DPM-Solver / UniPC: n integer timesteps from an n+1 grid without its last point (diffusers' multistep rule). */
export function multistepTimesteps(spacing: TimestepSpacing, n: number, numTrain: number, stepsOffset: number): number[] {
  if (spacing === "linspace") {
    return numpyLinspace(0, numTrain - 1, n + 1).map(roundHalfEven).reverse().slice(0, n);
  }
  if (spacing === "leading") {
    const ratio = Math.floor(numTrain / (n + 1));
    return Array.from({ length: n + 1 }, (_, i) => roundHalfEven(i * ratio)).reverse().slice(0, n).map((t) => t + stepsOffset);
  }
  return numpyArange(numTrain, 0, -numTrain / n).map((t) => roundHalfEven(t) - 1);
}

// Scalar numerics shared by the schedulers: exact JS re-implementations of the numpy / torch grid builders the
// diffusers and DiT reference schedulers use (shared/golden/README.md "schedulers" and "dit-official" DDIM
// trajectory). Timesteps must match the references EXACTLY, so every helper here reproduces the reference's
// operation order and precision: numpy float64 (plain JS doubles) or torch/numpy float32 (Math.fround after
// every operation, which is exact for + − × ÷ √ because a double holds every float32 product/quotient well enough
// to round once). These run on at most ~1000 scalars; the sample arithmetic itself is native (Tensor ops).

export const f32 = Math.fround;

/** numpy.linspace(start, stop, num) in float64: y_i = i·step + start, last element = stop exactly. */
export function numpyLinspace(start: number, stop: number, num: number, endpoint = true): number[] {
  const div = endpoint ? num - 1 : num;
  const out: number[] = [];
  if (num <= 0) return out;
  const delta = stop - start;
  const step = div > 0 ? delta / div : NaN;
  for (let i = 0; i < num; i++) {
    if (div > 0) out.push(step === 0 ? (i / div) * delta + start : i * step + start);
    else out.push(i * delta + start);
  }
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/** numpy.arange(start, stop, step) for floats: first value start, delta = (start + step) − start, v_i = start + i·delta. */
export function numpyArange(start: number, stop: number, step: number): number[] {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  const out: number[] = [];
  if (length === 0) return out;
  out.push(start);
  if (length === 1) return out;
  const delta = start + step - start;
  for (let i = 1; i < length; i++) out.push(start + i * delta);
  return out;
}

/** Python round() / numpy.round(): round half to even (C's std::round rounds half away from zero). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // half up
  if (Math.abs(x - Math.trunc(x)) === 0.5) return 2 * Math.round(x / 2) + 0; // + 0 turns −0 into 0
  return r;
}

/**
 * torch.linspace(start, end, steps, dtype=float32) as its documented scalar rule: step = (end − start)/(steps − 1) in
 * float32; first half start + step·i, second half end − step·(steps − 1 − i). torch's AVX2 kernel contracts these
 * into FMAs and lands within 1 ulp of this on a few entries; shared/golden allows for that (alphas rtol 1e-6).
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = f32(start);
    return out;
  }
  const s = f32(start);
  const e = f32(end);
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) out[i] = i < halfway ? f32(s + f32(step * i)) : f32(e - f32(step * (steps - i - 1)));
  return out;
}

export type BetaSchedule = "linear" | "scaled_linear";

export interface BetaConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
}

/**
 * Training ᾱ of the beta-based diffusers schedulers: betas = float32 linspace (`scaled_linear`: linspace(√b0, √b1)²
 * in float32), alphas = 1 − β in float32, cumulative product accumulated in float64 (torch CPU cumprod) and
 * rounded per element to float32.
 */
export function trainingAlphasCumprod(config: BetaConfig): Float32Array {
  const n = config.numTrainTimesteps;
  let betas: Float32Array;
  if (config.betaSchedule === "linear") {
    betas = torchLinspaceF32(config.betaStart, config.betaEnd, n);
  } else if (config.betaSchedule === "scaled_linear") {
    betas = torchLinspaceF32(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), n).map((b) => f32(b * b));
  } else {
    throw new RangeError(`Expected "linear" or "scaled_linear" for betaSchedule but received ${JSON.stringify(config.betaSchedule)}`);
  }
  const out = new Float32Array(n);
  let acc = 1;
  for (let i = 0; i < n; i++) {
    acc *= f32(1 - betas[i]!);
    out[i] = f32(acc);
  }
  return out;
}

/** σ(t) = √((1 − ᾱ)/ᾱ) in float32 (torch `** 0.5` is a correctly rounded sqrt). */
export function sigmaFromAlphaCumprod(alphaCumprod: number): number {
  return f32(Math.sqrt(f32(f32(1 - alphaCumprod) / alphaCumprod)));
}

/** numpy.interp(x, arange(len(fp)), fp) in float64 (fp given as float32 values). */
export function interpOnIndexGrid(x: number, fp: ArrayLike<number>): number {
  const n = fp.length;
  if (x <= 0) return fp[0]!;
  if (x >= n - 1) return fp[n - 1]!;
  const j = Math.floor(x);
  if (j === x) return fp[j]!;
  const slope = fp[j + 1]! - fp[j]!; // xp[j+1] − xp[j] = 1
  return slope * (x - j) + fp[j]!;
}

/** Validated positive integer step count. */
export function checkSteps(n: unknown, name = "numInferenceSteps"): number {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) {
    throw new TypeError(`Expected positive integer for ${name} but received ${JSON.stringify(n)}`);
  }
  return n;
}

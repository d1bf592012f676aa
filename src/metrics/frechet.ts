// Fréchet distance between Gaussians fitted to feature sets (Heusel et al., "GANs trained by a two time-scale update
// rule converge to a local Nash equilibrium", NeurIPS'17 — the FID formula), computed as the glyph fixture's README
// prescribes: float64, covariances with ddof = 1, and the trace term tr((Σ_g Σ_r)^½) = Σ √max(λ_i, 0) with
// λ = eigvalsh(A Σ_r A), A = Σ_g^½ (symmetric square root; stable where a non-symmetric sqrtm can go complex).
import { symmetricEigen, symmetricSqrt, matMul } from "./eigen.js";

export interface GaussianStats {
  dim: number;
  mu: Float64Array;
  sigma: Float64Array; // dim × dim, row-major
}

/** Mean and covariance (ddof = 1) of `count` row vectors of length `dim` stored row-major in `features`. */
export function featureStats(features: ArrayLike<number>, count: number, dim: number): GaussianStats {
  if (features.length !== count * dim) {
    throw new RangeError(`Expected ${count * dim} feature values (${count}×${dim}) but received ${features.length}`);
  }
  if (count < 2) throw new RangeError(`Expected at least 2 feature vectors for a covariance but received ${count}`);
  const mu = new Float64Array(dim);
  for (let r = 0; r < count; r++) for (let j = 0; j < dim; j++) mu[j] += features[r * dim + j]!;
  for (let j = 0; j < dim; j++) mu[j]! /= count;
  const sigma = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (let r = 0; r < count; r++) {
    for (let j = 0; j < dim; j++) centred[j] = features[r * dim + j]! - mu[j]!;
    for (let i = 0; i < dim; i++) {
      const ci = centred[i]!;
      for (let j = i; j < dim; j++) sigma[i * dim + j] += ci * centred[j]!;
    }
  }
  for (let i = 0; i < dim; i++) for (let j = i; j < dim; j++) {
    const value = sigma[i * dim + j]! / (count - 1);
    sigma[i * dim + j] = value; sigma[j * dim + i] = value;
  }
  return { dim, mu, sigma };
}

/** The terms of the Fréchet distance: FD = meanTerm + traceG + traceR − 2·traceRoot (diagnoses where FD comes from). */
export interface FrechetParts {
  fd: number;
  /** ‖μ_g − μ_r‖²: a systematic shift of the generated features. */
  meanTerm: number;
  /** tr Σ_g and tr Σ_r: the spread (diversity) of each set. */
  traceG: number;
  traceR: number;
  /** tr((Σ_g Σ_r)^½). */
  traceRoot: number;
}

/** FD = ‖μ_g − μ_r‖² + tr Σ_g + tr Σ_r − 2·tr((Σ_g Σ_r)^½), with its terms. */
export function frechetParts(generated: GaussianStats, reference: GaussianStats): FrechetParts {
  const n = generated.dim;
  if (reference.dim !== n) throw new RangeError(`Expected reference stats of dimension ${n} but received ${reference.dim}`);
  let meanTerm = 0, traceG = 0, traceR = 0;
  for (let i = 0; i < n; i++) {
    const d = generated.mu[i]! - reference.mu[i]!;
    meanTerm += d * d;
    traceG += generated.sigma[i * n + i]!;
    traceR += reference.sigma[i * n + i]!;
  }
  const rootG = symmetricSqrt(generated.sigma, n);
  const product = matMul(matMul(rootG, reference.sigma, n), rootG, n);
  const { values } = symmetricEigen(product, n);
  let traceRoot = 0;
  for (const lambda of values) traceRoot += Math.sqrt(Math.max(lambda, 0));
  return { fd: meanTerm + traceG + traceR - 2 * traceRoot, meanTerm, traceG, traceR, traceRoot };
}

/** FD = ‖μ_g − μ_r‖² + tr Σ_g + tr Σ_r − 2·tr((Σ_g Σ_r)^½). */
export function frechetDistance(generated: GaussianStats, reference: GaussianStats): number {
  return frechetParts(generated, reference).fd;
}

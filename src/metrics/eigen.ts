// Eigendecomposition of a real symmetric matrix in float64 by the cyclic Jacobi method (Golub & Van Loan, "Matrix
// Computations", 4th ed., §8.5.2-8.5.3; rotation formulas from Rutishauser's stable variant as in Numerical Recipes
// §11.1). Quadratic convergence; for the 128×128 covariance matrices of the FD metric it takes ~10 sweeps and a few
// milliseconds. Accurate to a few ulps of ‖A‖ for every eigenvalue, including tiny and negative ones.

export interface SymmetricEigen {
  /** Eigenvalues in ascending order. */
  values: Float64Array;
  /** Eigenvectors as columns of a row-major n×n matrix: vectors[i*n + k] is component i of eigenvector k. */
  vectors: Float64Array;
}

/** Eigenvalues and eigenvectors of the symmetric n×n matrix `a` (row-major; only symmetry-consistent input). */
export function symmetricEigen(a: ArrayLike<number>, n: number, maxSweeps = 100): SymmetricEigen {
  if (a.length !== n * n) throw new RangeError(`Expected ${n * n} values for a ${n}×${n} matrix but received ${a.length}`);
  const m = Float64Array.from(a);
  // Symmetrise (averaging) so round-off asymmetry of the caller's products cannot bias the result.
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    const s = 0.5 * (m[i * n + j]! + m[j * n + i]!);
    m[i * n + j] = s; m[j * n + i] = s;
  }
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;

  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let offDiagonal = 0, diagonal = 0;
    for (let i = 0; i < n; i++) {
      diagonal += m[i * n + i]! * m[i * n + i]!;
      for (let j = i + 1; j < n; j++) offDiagonal += m[i * n + j]! * m[i * n + j]!;
    }
    if (offDiagonal === 0 || offDiagonal <= 1e-30 * diagonal) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (apq === 0) continue;
        const app = m[p * n + p]!, aqq = m[q * n + q]!;
        // Rotation angle: t = tan θ, the smaller root of t² + 2τt − 1 = 0 with τ = (aqq − app) / (2 apq).
        const tau = (aqq - app) / (2 * apq);
        const t = (tau >= 0 ? 1 : -1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        m[p * n + p] = app - t * apq;
        m[q * n + q] = aqq + t * apq;
        m[p * n + q] = 0; m[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          if (k !== p && k !== q) {
            const akp = m[k * n + p]!, akq = m[k * n + q]!;
            const newKp = c * akp - s * akq, newKq = s * akp + c * akq;
            m[k * n + p] = newKp; m[p * n + k] = newKp;
            m[k * n + q] = newKq; m[q * n + k] = newKq;
          }
          const vkp = v[k * n + p]!, vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  // Sort ascending (as numpy.linalg.eigh), permuting the eigenvector columns with the values.
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => m[x * n + x]! - m[y * n + y]!);
  const values = Float64Array.from(order, (k) => m[k * n + k]!);
  const vectors = new Float64Array(n * n);
  order.forEach((k, col) => { for (let i = 0; i < n; i++) vectors[i * n + col] = v[i * n + k]!; });
  return { values, vectors };
}

/** Row-major n×n product a·b in float64. */
export function matMul(a: ArrayLike<number>, b: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += aik * b[k * n + j]!;
    }
  }
  return out;
}

/** Symmetric positive semi-definite square root V·diag(√max(λ, 0))·Vᵀ (negative eigenvalues clipped to 0). */
export function symmetricSqrt(a: ArrayLike<number>, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const root = Math.sqrt(Math.max(values[k]!, 0));
    if (root === 0) continue;
    for (let i = 0; i < n; i++) {
      const vik = vectors[i * n + k]! * root;
      if (vik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += vik * vectors[j * n + k]!;
    }
  }
  return out;
}

// Low-rank truncation of a weight matrix for autoguidance's weak model (src/guidance/lowRank.ts; Karras et al. 2024):
// the best rank-r approximation (Eckart–Young) of a row-major out×in float32 matrix, computed in float64 from the
// eigendecomposition of the Gram matrix of its shorter side. The eigensolver is Householder tridiagonalisation
// followed by the implicit QL method (EISPACK tred2 / tql2, as in JAMA's EigenvalueDecomposition): O(n³) with a small
// constant, where the cyclic Jacobi method of src/metrics/eigen.ts needs ~10 sweeps of 4n³ — the difference between
// seconds and minutes per matrix at DiT-XL's width 1152. Runs on a caller's thread (the addon: libuv's pool), never on
// the JS thread.
#pragma once
#include <cstdint>

#include "ditto/status.h"

namespace ditto {

// Eigenvalues (ascending, into `values`) and eigenvectors of the symmetric n×n matrix `a`. On entry `a` holds the
// matrix (row-major = column-major: it is symmetric); on return it holds the eigenvectors COLUMN-MAJOR: eigenvector k
// is a[k*n … k*n + n). `work` needs n doubles.
void symmetric_eigen(double* a, int64_t n, double* values, double* work);

// result = the best rank-`rank` approximation of the row-major out×in matrix w (rank ≥ min(out, in): a copy).
Status truncate_rank(const float* w, int64_t out, int64_t in, int64_t rank, float* result);

}  // namespace ditto

// Low-rank truncation for autoguidance's weak model (ditto/low_rank.h). The symmetric eigensolver follows EISPACK's
// tred2 (Householder reduction to tridiagonal form, accumulating the transformations) and tql2 (the QL algorithm with
// implicit shifts) in the public-domain JAMA EigenvalueDecomposition (Hicklin, Moler, Webb et al.; Wilkinson &
// Reinsch, "Handbook for Automatic Computation II", 1971). The eigenvector matrix V is stored COLUMN-major so that
// every inner loop of both routines (V[k][j] over k, the QL rotations of columns i and i+1) runs over contiguous
// memory. The truncation projects W onto the top-r eigenvectors U_r of W·Wᵀ (W wide; a tall W is truncated as its
// transpose): W_r = U_r·(U_rᵀ·W), or W − U_⊥·(U_⊥ᵀ·W) with the dropped eigenvectors when there are fewer of them.
#include "ditto/low_rank.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace ditto {
namespace {

// V(r, c) of the column-major n×n matrix v.
struct ColMajor {
  double* v;
  int64_t n;
  double& operator()(int64_t r, int64_t c) const { return v[c * n + r]; }
};

// Householder tridiagonalisation of the symmetric matrix in V (EISPACK tred2): d = the diagonal, e = the
// subdiagonal (e[0] = 0); V = the accumulated orthogonal transformation.
void tred2(ColMajor V, double* d, double* e) {
  const int64_t n = V.n;
  for (int64_t j = 0; j < n; j++) d[j] = V(n - 1, j);
  for (int64_t i = n - 1; i > 0; i--) {
    double scale = 0.0, h = 0.0;
    for (int64_t k = 0; k < i; k++) scale += std::fabs(d[k]);
    if (scale == 0.0) {
      e[i] = d[i - 1];
      for (int64_t j = 0; j < i; j++) {
        d[j] = V(i - 1, j);
        V(i, j) = 0.0;
        V(j, i) = 0.0;
      }
    } else {
      // The Householder vector.
      for (int64_t k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      double f = d[i - 1];
      double g = std::sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (int64_t j = 0; j < i; j++) e[j] = 0.0;
      // The similarity transformation of the remaining columns.
      for (int64_t j = 0; j < i; j++) {
        f = d[j];
        V(j, i) = f;
        g = e[j] + V(j, j) * f;
        const double* col = &V(0, j);
        for (int64_t k = j + 1; k <= i - 1; k++) {
          g += col[k] * d[k];
          e[k] += col[k] * f;
        }
        e[j] = g;
      }
      f = 0.0;
      for (int64_t j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const double hh = f / (h + h);
      for (int64_t j = 0; j < i; j++) e[j] -= hh * d[j];
      for (int64_t j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        double* col = &V(0, j);
        for (int64_t k = j; k <= i - 1; k++) col[k] -= (f * e[k] + g * d[k]);
        d[j] = V(i - 1, j);
        V(i, j) = 0.0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (int64_t i = 0; i < n - 1; i++) {
    V(n - 1, i) = V(i, i);
    V(i, i) = 1.0;
    const double h = d[i + 1];
    if (h != 0.0) {
      const double* next = &V(0, i + 1);
      for (int64_t k = 0; k <= i; k++) d[k] = next[k] / h;
      for (int64_t j = 0; j <= i; j++) {
        double* col = &V(0, j);
        double g = 0.0;
        for (int64_t k = 0; k <= i; k++) g += next[k] * col[k];
        for (int64_t k = 0; k <= i; k++) col[k] -= g * d[k];
      }
    }
    for (int64_t k = 0; k <= i; k++) V(k, i + 1) = 0.0;
  }
  for (int64_t j = 0; j < n; j++) {
    d[j] = V(n - 1, j);
    V(n - 1, j) = 0.0;
  }
  V(n - 1, n - 1) = 1.0;
  e[0] = 0.0;
}

// The QL algorithm with implicit shifts on the tridiagonal (d, e), rotating the columns of V (EISPACK tql2); then
// the eigenvalues sorted ascending with their columns.
void tql2(ColMajor V, double* d, double* e) {
  const int64_t n = V.n;
  for (int64_t i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0.0;
  double f = 0.0, tst1 = 0.0;
  const double eps = std::ldexp(1.0, -52);
  for (int64_t l = 0; l < n; l++) {
    // The first negligible subdiagonal element at or after l.
    tst1 = std::max(tst1, std::fabs(d[l]) + std::fabs(e[l]));
    int64_t m = l;
    while (m < n - 1 && std::fabs(e[m]) > eps * tst1) m++;
    if (m > l) {
      int iterations = 0;
      do {
        // The implicit shift.
        double g = d[l];
        double p = (d[l + 1] - g) / (2.0 * e[l]);
        double r = std::hypot(p, 1.0);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const double dl1 = d[l + 1];
        double h = g - d[l];
        for (int64_t i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        // The implicit QL transformation.
        p = d[m];
        double c = 1.0, c2 = c, c3 = c, s = 0.0, s2 = 0.0;
        const double el1 = e[l + 1];
        for (int64_t i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = std::hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          double* a = &V(0, i);
          double* b = &V(0, i + 1);
          for (int64_t k = 0; k < n; k++) {
            const double bk = b[k];
            b[k] = s * a[k] + c * bk;
            a[k] = c * a[k] - s * bk;
          }
        }
        p = -s * s2 * c3 * el1 * e[l] / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (std::fabs(e[l]) > eps * tst1 && ++iterations < 60);
    }
    d[l] += f;
    e[l] = 0.0;
  }
  for (int64_t i = 0; i < n - 1; i++) {
    int64_t k = i;
    double p = d[i];
    for (int64_t j = i + 1; j < n; j++) {
      if (d[j] < p) {
        k = j;
        p = d[j];
      }
    }
    if (k != i) {
      d[k] = d[i];
      d[i] = p;
      std::swap_ranges(&V(0, i), &V(0, i) + n, &V(0, k));
    }
  }
}

// truncate_rank for rows ≤ cols (w row-major rows×cols).
void truncate_wide(const float* w, int64_t rows, int64_t cols, int64_t rank, float* result) {
  std::vector<double> wd(w, w + rows * cols);
  std::vector<double> gram(static_cast<size_t>(rows * rows));
  for (int64_t i = 0; i < rows; i++) {
    const double* wi = wd.data() + i * cols;
    for (int64_t j = i; j < rows; j++) {
      const double* wj = wd.data() + j * cols;
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t k = 0;
      for (; k + 4 <= cols; k += 4) {
        s0 += wi[k] * wj[k];
        s1 += wi[k + 1] * wj[k + 1];
        s2 += wi[k + 2] * wj[k + 2];
        s3 += wi[k + 3] * wj[k + 3];
      }
      for (; k < cols; k++) s0 += wi[k] * wj[k];
      gram[i * rows + j] = gram[j * rows + i] = (s0 + s1) + (s2 + s3);
    }
  }
  std::vector<double> values(static_cast<size_t>(rows)), work(static_cast<size_t>(rows));
  symmetric_eigen(gram.data(), rows, values.data(), work.data());
  // Eigenvector k is gram[k*rows …] (ascending): the kept ones are the last `rank`. Project on whichever set is
  // smaller: W_r = U_r·(U_rᵀW), or W − U_⊥·(U_⊥ᵀW).
  const bool keep = rank <= rows - rank;
  const int64_t first = keep ? rows - rank : 0, count = keep ? rank : rows - rank;
  std::vector<double> coeff(static_cast<size_t>(count * cols), 0.0);  // U_selᵀ·W, count × cols
  for (int64_t k = 0; k < count; k++) {
    const double* u = gram.data() + (first + k) * rows;
    double* ck = coeff.data() + k * cols;
    for (int64_t i = 0; i < rows; i++) {
      const double ui = u[i];
      const double* wi = wd.data() + i * cols;
      for (int64_t c = 0; c < cols; c++) ck[c] += ui * wi[c];
    }
  }
  // Keep: start from 0 and add U_r·C; complement: start from W (wd, read for the last time above) and subtract.
  if (keep) std::fill(wd.begin(), wd.end(), 0.0);
  const double sign = keep ? 1.0 : -1.0;
  for (int64_t k = 0; k < count; k++) {
    const double* u = gram.data() + (first + k) * rows;
    const double* ck = coeff.data() + k * cols;
    for (int64_t i = 0; i < rows; i++) {
      const double ui = sign * u[i];
      double* ri = wd.data() + i * cols;
      for (int64_t c = 0; c < cols; c++) ri[c] += ui * ck[c];
    }
  }
  for (int64_t i = 0; i < rows * cols; i++) result[i] = static_cast<float>(wd[i]);
}

}  // namespace

void symmetric_eigen(double* a, int64_t n, double* values, double* work) {
  if (n <= 0) return;
  ColMajor V{a, n};
  tred2(V, values, work);
  tql2(V, values, work);
}

Status truncate_rank(const float* w, int64_t out, int64_t in, int64_t rank, float* result) {
  if (out <= 0 || in <= 0) return invalid_argument("Expected a non-empty matrix for truncate_rank but received " + std::to_string(out) + "×" + std::to_string(in));
  if (rank < 1) return invalid_argument("Expected positive integer for rank but received " + std::to_string(rank));
  if (rank >= std::min(out, in)) {
    std::copy(w, w + out * in, result);
    return Status::Ok();
  }
  if (out <= in) {
    truncate_wide(w, out, in, rank, result);
    return Status::Ok();
  }
  // A tall matrix: (Wᵀ)_r = (W_r)ᵀ.
  std::vector<float> t(static_cast<size_t>(out * in)), tr(static_cast<size_t>(out * in));
  for (int64_t i = 0; i < out; i++)
    for (int64_t j = 0; j < in; j++) t[j * out + i] = w[i * in + j];
  truncate_wide(t.data(), in, out, rank, tr.data());
  for (int64_t j = 0; j < in; j++)
    for (int64_t i = 0; i < out; i++) result[i * in + j] = tr[j * out + i];
  return Status::Ok();
}

}  // namespace ditto

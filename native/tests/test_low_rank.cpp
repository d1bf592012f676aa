// Low-rank truncation (ditto/low_rank.h) against simple references on random odd-sized inputs: the tred2 / tql2
// eigensolver satisfies A·v = λ·v with orthonormal v and ascending λ (random, diagonal with repeated values, zero
// and 1×1 matrices), and truncate_rank equals a naive cyclic-Jacobi reference (the Gram's top eigenvectors, projector
// U_r·U_rᵀ·W) on wide and tall matrices, keeps a full-rank request unchanged, is idempotent, and refuses bad ranks.
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "check.h"
#include "ditto/low_rank.h"

using namespace ditto;

namespace {

std::vector<double> random_symmetric(int64_t n, uint32_t seed) {
  auto r = ditto_test::random_vector(static_cast<size_t>(n * n), seed);
  std::vector<double> a(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = r[i * n + j];
  return a;
}

// Worst |A·v_k − λ_k·v_k| and |VᵀV − I| for the column-major eigenvectors in v; checks λ ascending.
void check_eigen(const std::vector<double>& a, int64_t n, const char* what) {
  std::vector<double> v = a, values(static_cast<size_t>(n)), work(static_cast<size_t>(n));
  symmetric_eigen(v.data(), n, values.data(), work.data());
  double norm = 0, residual = 0, ortho = 0;
  for (double x : a) norm = std::max(norm, std::fabs(x));
  for (int64_t k = 0; k < n; k++) {
    if (k > 0) CHECK(values[k - 1] <= values[k]);
    for (int64_t i = 0; i < n; i++) {
      double av = 0;
      for (int64_t j = 0; j < n; j++) av += a[i * n + j] * v[k * n + j];
      residual = std::max(residual, std::fabs(av - values[k] * v[k * n + i]));
    }
    for (int64_t l = 0; l < n; l++) {
      double dot = 0;
      for (int64_t i = 0; i < n; i++) dot += v[k * n + i] * v[l * n + i];
      ortho = std::max(ortho, std::fabs(dot - (k == l ? 1.0 : 0.0)));
    }
  }
  if (!(residual <= 1e-12 * std::max(1.0, norm) * n && ortho <= 1e-12 * n)) {
    std::fprintf(stderr, "%s (n=%lld): residual %g, orthogonality %g\n", what, static_cast<long long>(n), residual, ortho);
    ++ditto_test::failures();
  }
}

// The reference: cyclic Jacobi on the Gram of the wider side's rows, W_r = U_r·U_rᵀ·W (rows ≤ cols).
std::vector<float> reference_truncate(const std::vector<float>& w, int64_t rows, int64_t cols, int64_t rank) {
  const int64_t n = rows;
  std::vector<double> g(static_cast<size_t>(n * n)), v(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t k = 0; k < cols; k++) s += double(w[i * cols + k]) * w[j * cols + k];
      g[i * n + j] = s;
    }
  for (int64_t i = 0; i < n; i++) v[i * n + i] = 1;
  for (int sweep = 0; sweep < 100; sweep++) {
    double off = 0;
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = i + 1; j < n; j++) off += g[i * n + j] * g[i * n + j];
    if (off < 1e-30) break;
    for (int64_t p = 0; p < n - 1; p++)
      for (int64_t q = p + 1; q < n; q++) {
        const double apq = g[p * n + q];
        if (apq == 0) continue;
        const double tau = (g[q * n + q] - g[p * n + p]) / (2 * apq);
        const double t = (tau >= 0 ? 1 : -1) / (std::fabs(tau) + std::sqrt(1 + tau * tau));
        const double c = 1 / std::sqrt(1 + t * t), s = t * c;
        for (int64_t k = 0; k < n; k++) {  // columns p, q then rows p, q: G ← JᵀGJ
          const double gkp = g[k * n + p], gkq = g[k * n + q];
          g[k * n + p] = c * gkp - s * gkq;
          g[k * n + q] = s * gkp + c * gkq;
        }
        for (int64_t k = 0; k < n; k++) {
          const double gpk = g[p * n + k], gqk = g[q * n + k];
          g[p * n + k] = c * gpk - s * gqk;
          g[q * n + k] = s * gpk + c * gqk;
          const double vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) order[i] = i;
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return g[a * n + a] > g[b * n + b]; });
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; i++)
    for (int64_t c = 0; c < cols; c++) {
      double s = 0;
      for (int64_t j = 0; j < rows; j++) {
        double p = 0;
        for (int64_t r = 0; r < rank; r++) p += v[i * n + order[r]] * v[j * n + order[r]];
        s += p * w[j * cols + c];
      }
      out[i * cols + c] = static_cast<float>(s);
    }
  return out;
}

std::vector<float> transpose(const std::vector<float>& w, int64_t rows, int64_t cols) {
  std::vector<float> t(w.size());
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) t[j * rows + i] = w[i * cols + j];
  return t;
}

}  // namespace

int main() {
  uint32_t seed = 1;
  for (int64_t n : {1, 2, 3, 7, 33, 64, 101}) check_eigen(random_symmetric(n, seed++), n, "random symmetric");
  {
    const int64_t n = 9;  // repeated eigenvalues and an exact zero
    std::vector<double> d(static_cast<size_t>(n * n), 0.0);
    const double diag[] = {2, 2, 2, -1, 0, 5, 5, -1, 3};
    for (int64_t i = 0; i < n; i++) d[i * n + i] = diag[i];
    check_eigen(d, n, "diagonal with repeats");
    check_eigen(std::vector<double>(static_cast<size_t>(n * n), 0.0), n, "zero");
  }

  for (auto [rows, cols, rank] : {std::array<int64_t, 3>{5, 9, 2}, {12, 37, 7}, {31, 31, 19}, {48, 17, 10}, {23, 70, 1}, {40, 41, 35}}) {
    const auto w = ditto_test::random_vector(static_cast<size_t>(rows * cols), seed++);
    std::vector<float> got(w.size());
    CHECK_OK(truncate_rank(w.data(), rows, cols, rank, got.data()));
    // Reference on the wide side (a tall W as its transpose).
    const bool tall = rows > cols;
    auto ref = tall ? transpose(reference_truncate(transpose(w, rows, cols), cols, rows, rank), cols, rows)
                    : reference_truncate(w, rows, cols, rank);
    CHECK(ditto_test::all_close(got.data(), ref.data(), got.size(), 2e-5, 1e-4, "truncate_rank vs Jacobi reference"));
    std::vector<float> again(w.size());
    CHECK_OK(truncate_rank(got.data(), rows, cols, rank, again.data()));
    CHECK(ditto_test::all_close(again.data(), got.data(), got.size(), 2e-5, 1e-4, "truncate_rank idempotent"));
    std::vector<float> full(w.size());
    CHECK_OK(truncate_rank(w.data(), rows, cols, std::min(rows, cols), full.data()));
    CHECK(full == w);
  }
  std::vector<float> w(6, 1.f), out(6);
  const Status bad = truncate_rank(w.data(), 2, 3, 0, out.data());
  CHECK(!bad.ok() && bad.message() == "Expected positive integer for rank but received 0");
  return ditto_test::finish("test_low_rank");
}

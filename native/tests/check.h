// A tiny test harness for the native ctest programs: CHECK macros that count failures, random inputs,
// and closeness checks that report the worst element.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "ditto/status.h"

namespace ditto_test {

inline int& failures() {
  static int n = 0;
  return n;
}

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++::ditto_test::failures();                                               \
    }                                                                           \
  } while (0)

inline const ditto::Status& status_of(const ditto::Status& s) { return s; }
template <class T>
const ditto::Status& status_of(const ditto::Result<T>& r) { return r.status(); }

#define CHECK_OK(expr)                                                                               \
  do {                                                                                               \
    ::ditto::Status check_status_ = ::ditto_test::status_of(expr);                                    \
    if (!check_status_.ok()) {                                                                       \
      std::fprintf(stderr, "%s:%d: not ok: %s\n", __FILE__, __LINE__, check_status_.message().c_str()); \
      ++::ditto_test::failures();                                                                    \
    }                                                                                                \
  } while (0)

// Random values in [-1, 1] (never all zeros), reproducible per seed.
inline std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// |a-b| <= atol + rtol*|b| elementwise; prints the worst element on failure.
inline bool all_close(const float* a, const float* b, size_t n, double atol, double rtol, const std::string& what) {
  double worst = 0;
  size_t worst_i = 0;
  for (size_t i = 0; i < n; ++i) {
    double err = std::fabs(double(a[i]) - double(b[i]));
    double ratio = err / (atol + rtol * std::fabs(double(b[i])));
    if (!(ratio <= worst) || std::isnan(a[i])) {
      worst = std::isnan(a[i]) ? INFINITY : ratio;
      worst_i = i;
    }
  }
  if (worst > 1.0) {
    std::fprintf(stderr, "%s: mismatch at %zu: got %.9g want %.9g (ratio %.3g, atol %g rtol %g)\n", what.c_str(),
                 worst_i, a[worst_i], b[worst_i], worst, atol, rtol);
    return false;
  }
  return true;
}

inline int finish(const char* name) {
  if (failures()) {
    std::fprintf(stderr, "%s: %d failure(s)\n", name, failures());
    return 1;
  }
  std::printf("%s: ok\n", name);
  return 0;
}

}  // namespace ditto_test

// fdlibm log, sin and cos as V8 runs them (js_math.h): e_log.c, k_sin.c, k_cos.c, the medium-range branch of
// e_rem_pio2.c, s_sin.c and s_cos.c (Sun Microsystems, 1993; constants from those files).
#include "core/js_math.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace ditto::js_math {
namespace {

int32_t high_word(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, 8);
  return static_cast<int32_t>(bits >> 32);
}
uint32_t low_word(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, 8);
  return static_cast<uint32_t>(bits);
}
double with_high_word(double x, int32_t hi) {
  uint64_t bits;
  std::memcpy(&bits, &x, 8);
  bits = (static_cast<uint64_t>(static_cast<uint32_t>(hi)) << 32) | (bits & 0xFFFFFFFFu);
  double out;
  std::memcpy(&out, &bits, 8);
  return out;
}
double from_words(int32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(static_cast<uint32_t>(hi)) << 32) | lo;
  double out;
  std::memcpy(&out, &bits, 8);
  return out;
}

// sin on [-π/4, π/4]; y is the tail of x, has_tail says whether y is used.
double kernel_sin(double x, double y, bool has_tail) {
  constexpr double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
                   S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
                   S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
  const int32_t ix = high_word(x) & 0x7FFFFFFF;
  if (ix < 0x3E400000 && static_cast<int>(x) == 0) return x;  // |x| < 2^-27
  const double z = x * x;
  const double v = z * x;
  const double r = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
  if (!has_tail) return x + v * (S1 + z * r);
  return x - ((z * (0.5 * y - v * r) - y) - v * S1);
}

// cos on [-π/4, π/4]; y is the tail of x.
double kernel_cos(double x, double y) {
  constexpr double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03,
                   C3 = 2.48015872894767294178e-05, C4 = -2.75573143513906633035e-07,
                   C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
  const int32_t ix = high_word(x) & 0x7FFFFFFF;
  if (ix < 0x3E400000 && static_cast<int>(x) == 0) return 1.0;  // |x| < 2^-27
  const double z = x * x;
  const double r = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
  if (ix < 0x3FD33333) return 1.0 - (0.5 * z - (z * r - x * y));  // |x| < 0.3
  // qx = |x|/4 with the low word cleared (0.28125 above 0.78125): 1 − qx and z/2 − qx are exact.
  const double qx = ix > 0x3FE90000 ? 0.28125 : from_words(ix - 0x00200000, 0);
  const double hz = 0.5 * z - qx;
  const double a = 1.0 - qx;
  return a - (hz - (z * r - x * y));
}

// x = n·π/2 + (y[0] + y[1]) for |x| ≤ 2^19·π/2; returns n, or INT32_MIN outside that range.
int32_t rem_pio2(double x, double* y) {
  constexpr double invpio2 = 6.36619772367581382433e-01, pio2_1 = 1.57079632673412561417e+00,
                   pio2_1t = 6.07710050650619224932e-11, pio2_2 = 6.07710050630396597660e-11,
                   pio2_2t = 2.02226624879595063154e-21, pio2_3 = 2.02226624871116645580e-21,
                   pio2_3t = 8.47842766036889956997e-32;
  // High words of n·π/2 for n = 1..32: near these, the quick subtraction may cancel.
  static constexpr int32_t npio2_hw[] = {
      0x3FF921FB, 0x400921FB, 0x4012D97C, 0x401921FB, 0x401F6A7A, 0x4022D97C, 0x4025FDBB, 0x402921FB,
      0x402C463A, 0x402F6A7A, 0x4031475C, 0x4032D97C, 0x40346B9C, 0x4035FDBB, 0x40378FDB, 0x403921FB,
      0x403AB41B, 0x403C463A, 0x403DD85A, 0x403F6A7A, 0x40407E4C, 0x4041475C, 0x4042106C, 0x4042D97C,
      0x4043A28C, 0x40446B9C, 0x404534AC, 0x4045FDBB, 0x4046C6CB, 0x40478FDB, 0x404858EB, 0x404921FB,
  };
  const int32_t hx = high_word(x);
  const int32_t ix = hx & 0x7FFFFFFF;
  if (ix <= 0x3FE921FB) {  // |x| ≤ π/4
    y[0] = x;
    y[1] = 0;
    return 0;
  }
  if (ix < 0x4002D97C) {  // |x| < 3π/4: n = ±1
    if (hx > 0) {
      double z = x - pio2_1;
      if (ix != 0x3FF921FB) {
        y[0] = z - pio2_1t;
        y[1] = (z - y[0]) - pio2_1t;
      } else {  // near π/2: 33 + 33 + 53 bits of π/2
        z -= pio2_2;
        y[0] = z - pio2_2t;
        y[1] = (z - y[0]) - pio2_2t;
      }
      return 1;
    }
    double z = x + pio2_1;
    if (ix != 0x3FF921FB) {
      y[0] = z + pio2_1t;
      y[1] = (z - y[0]) + pio2_1t;
    } else {
      z += pio2_2;
      y[0] = z + pio2_2t;
      y[1] = (z - y[0]) + pio2_2t;
    }
    return -1;
  }
  if (ix > 0x413921FB) return std::numeric_limits<int32_t>::min();
  const double t = std::fabs(x);
  const int32_t n = static_cast<int32_t>(t * invpio2 + 0.5);
  const double fn = static_cast<double>(n);
  double r = t - fn * pio2_1;
  double w = fn * pio2_1t;  // first round: 85 bits
  if (n < 32 && ix != npio2_hw[n - 1]) {
    y[0] = r - w;
  } else {
    const int32_t j = ix >> 20;
    y[0] = r - w;
    int32_t i = j - ((high_word(y[0]) >> 20) & 0x7FF);
    if (i > 16) {  // second round: 118 bits
      double u = r;
      w = fn * pio2_2;
      r = u - w;
      w = fn * pio2_2t - ((u - r) - w);
      y[0] = r - w;
      i = j - ((high_word(y[0]) >> 20) & 0x7FF);
      if (i > 49) {  // third round: 151 bits
        u = r;
        w = fn * pio2_3;
        r = u - w;
        w = fn * pio2_3t - ((u - r) - w);
        y[0] = r - w;
      }
    }
  }
  y[1] = (r - y[0]) - w;
  if (hx < 0) {
    y[0] = -y[0];
    y[1] = -y[1];
    return -n;
  }
  return n;
}

}  // namespace

double log(double x) {
  constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10,
                   two54 = 1.80143985094819840000e+16, Lg1 = 6.666666666666735130e-01,
                   Lg2 = 3.999999999940941908e-01, Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01,
                   Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01, Lg7 = 1.479819860511658591e-01;
  int32_t hx = high_word(x);
  const uint32_t lx = low_word(x);
  int32_t k = 0;
  if (hx < 0x00100000) {  // x < 2^-1022: zero, negative or subnormal
    if (((hx & 0x7FFFFFFF) | lx) == 0) return -std::numeric_limits<double>::infinity();
    if (hx < 0) return std::numeric_limits<double>::quiet_NaN();
    k -= 54;
    x *= two54;
    hx = high_word(x);
  }
  if (hx >= 0x7FF00000) return x + x;
  k += (hx >> 20) - 1023;
  hx &= 0x000FFFFF;
  int32_t i = (hx + 0x95F64) & 0x100000;
  x = with_high_word(x, hx | (i ^ 0x3FF00000));  // x or x/2, in [√2/2, √2)
  k += i >> 20;
  const double f = x - 1.0;
  const double dk = static_cast<double>(k);
  if ((0x000FFFFF & (2 + hx)) < 3) {  // |f| < 2^-20
    if (f == 0.0) return k == 0 ? 0.0 : dk * ln2_hi + dk * ln2_lo;
    const double R = f * f * (0.5 - 0.33333333333333333 * f);
    return k == 0 ? f - R : dk * ln2_hi - ((R - dk * ln2_lo) - f);
  }
  const double s = f / (2.0 + f);
  const double z = s * s;
  i = hx - 0x6147A;
  const double w = z * z;
  const int32_t j = 0x6B851 - hx;
  const double t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
  const double t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
  i |= j;
  const double R = t2 + t1;
  if (i > 0) {
    const double hfsq = 0.5 * f * f;
    return k == 0 ? f - (hfsq - s * (hfsq + R)) : dk * ln2_hi - ((hfsq - (s * (hfsq + R) + dk * ln2_lo)) - f);
  }
  return k == 0 ? f - s * (f - R) : dk * ln2_hi - ((s * (f - R) - dk * ln2_lo) - f);
}

double sin(double x) {
  const int32_t ix = high_word(x) & 0x7FFFFFFF;
  if (ix <= 0x3FE921FB) return kernel_sin(x, 0.0, false);
  if (ix >= 0x7FF00000) return x - x;
  double y[2];
  const int32_t n = rem_pio2(x, y);
  if (n == std::numeric_limits<int32_t>::min()) return std::numeric_limits<double>::quiet_NaN();
  switch (n & 3) {
    case 0: return kernel_sin(y[0], y[1], true);
    case 1: return kernel_cos(y[0], y[1]);
    case 2: return -kernel_sin(y[0], y[1], true);
    default: return -kernel_cos(y[0], y[1]);
  }
}

double cos(double x) {
  const int32_t ix = high_word(x) & 0x7FFFFFFF;
  if (ix <= 0x3FE921FB) return kernel_cos(x, 0.0);
  if (ix >= 0x7FF00000) return x - x;
  double y[2];
  const int32_t n = rem_pio2(x, y);
  if (n == std::numeric_limits<int32_t>::min()) return std::numeric_limits<double>::quiet_NaN();
  switch (n & 3) {
    case 0: return kernel_cos(y[0], y[1]);
    case 1: return -kernel_sin(y[0], y[1], true);
    case 2: return -kernel_cos(y[0], y[1]);
    default: return kernel_sin(y[0], y[1], true);
  }
}

}  // namespace ditto::js_math

// Internal: float64 log, sin and cos that return exactly what Node's Math.log / Math.sin / Math.cos return. V8
// implements them with its port of fdlibm (src/base/ieee754.cc; Node builds V8 without V8_USE_LIBM_TRIG_FUNCTIONS),
// whose results differ from glibc's in the last bit for a few percent of arguments. These follow the same fdlibm
// algorithms step for step (argument reduction, the same minimax polynomials, the same evaluation order), so the
// native noise generators reproduce the TypeScript ones bit for bit. Domain: sin/cos need |x| < 2^19·π/2 (the
// generators pass [0, 2π)); larger arguments return NaN rather than run fdlibm's multi-precision reduction.
// Must be compiled without FMA contraction (the engine's baseline flags; x86-64 without -mfma).
#pragma once

namespace ditto::js_math {

double log(double x);
double sin(double x);
double cos(double x);

}  // namespace ditto::js_math

// Helpers for the PixArt / Wan golden tests (test_pixart.cpp, test_wan.cpp): read a case's io.safetensors and
// config.json, capture a forward's intermediates and compare them with config.json's tolerances.per_tensor
// (|got - want| <= atol + rtol*|want| elementwise, shared/golden/README.md "Tolerances").
#pragma once
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "check.h"
#include "ditto/json.h"
#include "ditto/model.h"
#include "ditto/safetensors.h"

namespace ditto_test {

inline std::vector<float> floats_of(const ditto::Tensor& t) {
  ditto::Tensor f = t.dtype() == ditto::DType::F32 ? t : t.to(ditto::DType::F32).value();
  return std::vector<float>(f.data<float>(), f.data<float>() + f.numel());
}

// An F32 copy of any stored tensor (I64 timesteps / masks become float).
inline ditto::Tensor f32_tensor(const ditto::SafetensorsFile& f, const std::string& name) {
  ditto::Tensor t = f.get(name).value();
  if (t.dtype() == ditto::DType::F32) return t.clone().value();
  ditto::Tensor out = ditto::Tensor::empty(ditto::DType::F32, t.shape()).value();
  if (t.dtype() == ditto::DType::I64)
    for (int64_t i = 0; i < t.numel(); ++i) out.data<float>()[i] = static_cast<float>(t.data<int64_t>()[i]);
  return out;
}

struct Captures {
  std::map<std::string, std::vector<float>> values;
  ditto::IntermediateSink sink() {
    return [this](std::string_view n, const ditto::Tensor& v) { values[std::string(n)] = floats_of(v); };
  }
};

// Compares `got` with io tensor `key` under the case's tolerance; returns false (and counts a failure) on a miss.
inline bool check_against(const std::string& label, const std::vector<float>& got, const ditto::SafetensorsFile& io,
                          const ditto::JsonValue& config, const std::string& key) {
  std::vector<float> want = floats_of(io.get(key).value());
  if (got.size() != want.size()) {
    std::fprintf(stderr, "%s: %s has %zu values, want %zu\n", label.c_str(), key.c_str(), got.size(), want.size());
    ++failures();
    return false;
  }
  double atol = 1e-5, rtol = 3e-5;
  if (const ditto::JsonValue* tol = config.find("tolerances")->find("per_tensor")->find(key)) {
    atol = tol->find("atol")->as_double();
    rtol = tol->find("rtol")->as_double();
  }
  double max_abs = 0, worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::isnan(got[i]) ? INFINITY : std::fabs(double(got[i]) - want[i]);
    max_abs = std::max(max_abs, err);
    worst = std::max(worst, err / (atol + rtol * std::fabs(double(want[i]))));
  }
  std::printf("  %-10s %-36s max_abs %.3g  worst/tol %.3f\n", label.c_str(), key.c_str(), max_abs, worst);
  if (!(worst <= 1.0)) {
    std::fprintf(stderr, "%s: %s exceeds tolerance (atol %g rtol %g)\n", label.c_str(), key.c_str(), atol, rtol);
    ++failures();
    return false;
  }
  return true;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::isnan(a[i]) ? INFINITY : std::fabs(double(a[i]) - b[i]));
  return m;
}

}  // namespace ditto_test

// Helpers for the golden-case tests of the families (test_sd3_golden, test_flux_golden, test_pixart, test_wan;
// test_vae_golden uses the comparison):
// open a case folder (config.json + io.safetensors, shared/golden/README.md), read io tensors as f32, run a
// forward with capture, and compare captured tensors with the case's io_roles outputs under config.json's
// tolerances.per_tensor (|got - want| <= atol + rtol·|want| elementwise, README "Tolerances").
#pragma once
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <variant>
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

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::isnan(a[i]) ? INFINITY : std::fabs(double(a[i]) - b[i]));
  return m;
}

// |got - want| <= atol + rtol·|want| elementwise (NaN fails); prints the worst error against the tolerance.
inline bool within_tolerance(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
                             double atol, double rtol) {
  double max_abs = 0, worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::isnan(got[i]) ? INFINITY : std::fabs(double(got[i]) - want[i]);
    max_abs = std::max(max_abs, err);
    worst = std::max(worst, err / (atol + rtol * std::fabs(double(want[i]))));
  }
  std::printf("  %-36s max_abs %.3g  worst/tol %.3f\n", what.c_str(), max_abs, worst);
  return worst <= 1.0;
}

struct GoldenCase {
  std::string dir;
  ditto::JsonValue config;
  std::shared_ptr<ditto::SafetensorsFile> io;
  double default_atol = 1e-4, default_rtol = 3e-5;  // for a tensor config.json lists no tolerance for

  // False (with a SKIP line) when the folder is absent.
  bool open(const std::string& case_dir) {
    dir = case_dir;
    if (!std::filesystem::exists(dir + "/config.json")) {
      std::printf("SKIP %s: not found\n", dir.c_str());
      return false;
    }
    auto c = ditto::read_json_file(dir + "/config.json");
    auto f = ditto::SafetensorsFile::open(dir + "/io.safetensors");
    CHECK_OK(c);
    CHECK_OK(f);
    if (!c.ok() || !f.ok()) return false;
    config = c.value();
    io = f.value();
    return true;
  }
  // An f32 copy of io tensor `name` (floating-point or I64).
  ditto::Tensor get(const std::string& name) const {
    auto raw = io->get(name);
    CHECK_OK(raw);
    if (!raw.ok()) return ditto::Tensor();
    if (raw.value().dtype() == ditto::DType::I64) return f32_tensor(*io, name);
    auto t = io->get_f32(name);
    CHECK_OK(t);
    return t.ok() ? t.value() : ditto::Tensor();
  }
  std::vector<float> floats(const std::string& name) const {
    ditto::Tensor t = get(name);
    return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
  }
  void tolerance(const std::string& name, double* atol, double* rtol) const {
    const ditto::JsonValue* tol = config.find("tolerances")->find("per_tensor")->find(name);
    *atol = tol ? tol->find("atol")->as_double() : default_atol;
    *rtol = tol ? tol->find("rtol")->as_double() : default_rtol;
  }
  // Compares `got` with io tensor `want_name` (size and values), prints the worst error against the tolerance,
  // and counts a failure on a miss; returns whether it matched.
  bool compare(const std::string& what, const std::vector<float>& got, const std::string& want_name) const {
    const std::vector<float> want = floats_of(get(want_name));
    if (got.size() != want.size()) {
      std::fprintf(stderr, "%s: %s has %zu values, the reference %s %zu\n", dir.c_str(), what.c_str(), got.size(),
                   want_name.c_str(), want.size());
      ++failures();
      return false;
    }
    double atol, rtol;
    tolerance(want_name, &atol, &rtol);
    if (!within_tolerance(what, got, want, atol, rtol)) {
      std::fprintf(stderr, "%s: %s exceeds tolerance (atol %g rtol %g)\n", dir.c_str(), what.c_str(), atol, rtol);
      ++failures();
      return false;
    }
    return true;
  }
  bool compare(const std::string& what, const ditto::Tensor& got, const std::string& want_name) const {
    return compare(what, floats_of(got), want_name);
  }
  // The case's model (load_model on the folder); null, with the failure counted, when it does not load.
  std::shared_ptr<ditto::Denoiser> load(const ditto::LoadOptions& options = {}) const {
    auto m = ditto::load_model(dir, options);
    CHECK_OK(m);
    return m.ok() ? std::shared_ptr<ditto::Denoiser>(std::move(m.value())) : nullptr;
  }
  std::vector<std::string> outputs() const {
    std::vector<std::string> names;
    for (const auto& v : config.find("io_roles")->find("outputs")->items()) names.push_back(v.as_string());
    return names;
  }
  // Compares every io_roles output (except those starting with one of `skip`) with its capture in `captured`
  // (a missing one is a failure); returns how many were compared.
  template <class Captured>
  int compare_outputs(const Captured& captured, const std::vector<std::string>& skip = {}) const {
    int compared = 0;
    for (const std::string& name : outputs()) {
      bool skipped = false;
      for (const std::string& prefix : skip) skipped = skipped || name.rfind(prefix, 0) == 0;
      if (skipped) continue;
      auto it = captured.find(name);
      if (it == captured.end()) {
        std::fprintf(stderr, "%s: output %s was not produced\n", dir.c_str(), name.c_str());
        ++failures();
        continue;
      }
      compare(name, it->second, name);
      ++compared;
    }
    return compared;
  }
};

// A numeric field of the model's description (ModelInfo::fields, e.g. "hiddenSize"); 0 when absent.
inline uint64_t info_field(const ditto::Denoiser& m, const char* name) {
  for (const auto& f : m.info().fields)
    if (f.name == name) return static_cast<uint64_t>(std::get<double>(f.value));
  return 0;
}

// Every intermediate of a forward as a dense f32 vector (ForwardOptions::capture = sink()).
struct Captures {
  std::map<std::string, std::vector<float>> values;
  ditto::IntermediateSink sink() {
    return [this](std::string_view n, const ditto::Tensor& v) { values[std::string(n)] = floats_of(v); };
  }
};

// Runs a forward with every intermediate captured (dense f32 copies).
inline std::map<std::string, ditto::Tensor> forward_captured(ditto::Denoiser& m, const ditto::Tensor& x,
                                                             const std::vector<float>& t,
                                                             const ditto::Conditions& c,
                                                             std::vector<ditto::BlockAction> blocks = {}) {
  std::map<std::string, ditto::Tensor> captured;
  ditto::ForwardOptions opts;
  opts.blocks = std::move(blocks);
  opts.capture = [&](std::string_view n, const ditto::Tensor& v) { captured[std::string(n)] = v.clone().value(); };
  auto out = m.forward(x, t, c, opts);
  CHECK_OK(out);
  return captured;
}

// Scale(alpha) on block k: its output is h_in + alpha·(block(h_in) − h_in), with h_in the previous block's output
// (both captured from plain forwards); checked on the image stream capture `name_k`.
inline void check_scaled_block(const std::map<std::string, ditto::Tensor>& plain,
                               const std::map<std::string, ditto::Tensor>& scaled, const std::string& prev_name,
                               const std::string& name, float alpha) {
  const ditto::Tensor& in = plain.at(prev_name);
  const ditto::Tensor& full = plain.at(name);
  const ditto::Tensor& got = scaled.at(name);
  std::vector<float> want(static_cast<size_t>(in.numel()));
  for (size_t i = 0; i < want.size(); ++i)
    want[i] = in.data<float>()[i] + alpha * (full.data<float>()[i] - in.data<float>()[i]);
  CHECK(all_close(got.data<float>(), want.data(), want.size(), 1e-5, 1e-5, "scaled " + name));
}

}  // namespace ditto_test

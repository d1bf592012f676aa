// Helpers for the golden-case tests of the text-conditioned families (test_sd3_golden, test_flux_golden):
// open a case folder, read io tensors, run a forward with capture, and compare every captured tensor that the
// case lists in io_roles.outputs against config.json's tolerances.per_tensor (|a-b| <= atol + rtol·|b|).
#pragma once
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "check.h"
#include "ditto/json.h"
#include "ditto/model.h"
#include "ditto/safetensors.h"

namespace ditto_test {

struct GoldenCase {
  std::string dir;
  ditto::JsonValue config;
  std::shared_ptr<ditto::SafetensorsFile> io;

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
  ditto::Tensor get(const std::string& name) const {
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
    *atol = tol ? tol->find("atol")->as_double() : 1e-4;
    *rtol = tol ? tol->find("rtol")->as_double() : 3e-5;
  }
  // Compares `got` with io tensor `want_name` (shape and values); returns whether it matched.
  bool compare(const std::string& what, const ditto::Tensor& got, const std::string& want_name) const {
    ditto::Tensor want = get(want_name);
    if (got.numel() != want.numel()) {
      std::fprintf(stderr, "%s: %s has %lld values, the reference %lld\n", dir.c_str(), what.c_str(),
                   static_cast<long long>(got.numel()), static_cast<long long>(want.numel()));
      ++failures();
      return false;
    }
    double atol, rtol;
    tolerance(want_name, &atol, &rtol);
    const bool ok = all_close(got.data<float>(), want.data<float>(), static_cast<size_t>(want.numel()), atol, rtol,
                              dir + " " + what);
    CHECK(ok);
    return ok;
  }
  std::vector<std::string> outputs() const {
    std::vector<std::string> names;
    for (const auto& v : config.find("io_roles")->find("outputs")->items()) names.push_back(v.as_string());
    return names;
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

// Wan2.1 family (native/src/models/wan.cpp):
//  * the 3-D RoPE split: 44/42/42 at head_dim 128 (real Wan), 8/4/4 at the golden 16, and table entries at 128
//    against the formula (the golden case cannot tell a wrong split apart, README "wan");
//  * ../shared/golden/wan in both key layouts: model.safetensors (diffusers) on every io_roles output and
//    model.official.safetensors on official.out, within config.json's tolerances;
//  * the config's "layout" overrides detection; an unknown layout is ERR_UNSUPPORTED_MODEL naming the tensor;
//  * block actions (skip, scale) and the cross-attention K/V cache (MAC saving, bit-identical to recomputing).
// Skips the golden parts (with a message) when ../shared/golden is absent.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "ditto/executor.h"
#include "golden_case.h"
#include "models/wan.h"

using namespace ditto;
using namespace ditto_test;
namespace fs = std::filesystem;

namespace {

const std::string kCase = "../shared/golden/wan";

void rope_split() {
  const wan::RopeAxes real = wan::rope_axes(128);
  CHECK(real.frame == 44 && real.row == 42 && real.col == 42);
  const wan::RopeAxes tiny = wan::rope_axes(16);
  CHECK(tiny.frame == 8 && tiny.row == 4 && tiny.col == 4);
  // Grid (F', H', W') = (2, 3, 5) at head_dim 128: token (1, 2, 4), pairs [0, 22) frame, [22, 43) row, [43, 64) col.
  const int64_t Dh = 128, T = 2 * 3 * 5, pairs = Dh / 2;
  std::vector<float> cs(static_cast<size_t>(T * pairs)), sn(static_cast<size_t>(T * pairs));
  wan::rope_tables(2, 3, 5, Dh, cs.data(), sn.data());
  const int64_t token = (1 * 3 + 2) * 5 + 4;
  auto angle = [&](int64_t pair) {
    if (pair < 22) return 1.0 * std::pow(10000.0, -2.0 * pair / 44.0);
    if (pair < 43) return 2.0 * std::pow(10000.0, -2.0 * (pair - 22) / 42.0);
    return 4.0 * std::pow(10000.0, -2.0 * (pair - 43) / 42.0);
  };
  double worst = 0;
  for (int64_t p = 0; p < pairs; ++p) {
    worst = std::max(worst, std::fabs(cs[token * pairs + p] - std::cos(angle(p))));
    worst = std::max(worst, std::fabs(sn[token * pairs + p] - std::sin(angle(p))));
  }
  std::printf("  wan rope 44/42/42 table vs formula: max |diff| %.3g\n", worst);
  CHECK(worst <= 1e-7);
  // The naive d/2, d/4, d/4 split (64/32/32) would give pair 22 a frame angle: it must be the row's.
  CHECK(std::fabs(cs[token * pairs + 22] - std::cos(2.0)) < 1e-7);
}

struct Inputs {
  Tensor x, text;
  std::vector<float> t;
  Conditions conditions() const { return Conditions{{}, {text}}; }
};

Inputs read_inputs(const GoldenCase& g) {
  return Inputs{g.get("hidden_states"), g.get("encoder_hidden_states"), g.floats("timestep")};
}

void golden(const GoldenCase& g) {
  const Inputs in = read_inputs(g);
  auto diffusers = load_model(kCase, LoadOptions{});
  CHECK_OK(diffusers);
  if (diffusers.ok()) {
    Denoiser& m = *diffusers.value();
    CHECK(m.info().family == "wan" && m.info().layout == "diffusers");
    Captures cap;
    ForwardOptions opts;
    opts.capture = cap.sink();
    CHECK_OK(m.forward(in.x, in.t, in.conditions(), opts));
    CHECK(g.compare_outputs(cap.values, {"official.out"}) == 11);
  }
  auto official = load_model(kCase + "/model.official.safetensors", LoadOptions{});
  CHECK_OK(official);
  if (official.ok()) {
    CHECK(official.value()->info().layout == "official");
    auto out = official.value()->forward(in.x, in.t, in.conditions());
    CHECK_OK(out);
    if (out.ok()) g.compare("official.out", out.value(), "official.out");
  }
}

// A folder with a link to the official weights and a config naming a layout.
void layout_override() {
  const fs::path dir = fs::temp_directory_path() / ("ditto_wan_layout_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::create_symlink(fs::absolute(kCase + "/model.official.safetensors"), dir / "model.safetensors");
  auto write_config = [&](const std::string& layout) {
    std::ofstream(dir / "config.json") << "{\"num_heads\": 2, \"layout\": \"" << layout << "\"}";
  };
  write_config("official");
  auto ok = load_model(dir.string(), LoadOptions{});
  CHECK_OK(ok);
  if (ok.ok()) CHECK(ok.value()->info().layout == "official");
  write_config("diffusers");
  auto wrong = load_model(dir.string(), LoadOptions{});
  std::printf("  wan forced diffusers layout: %s\n", wrong.status().message().c_str());
  CHECK(!wrong.ok() && wrong.status().code() == StatusCode::kModelLoad &&
        wrong.status().message().find("\"condition_embedder.text_embedder.linear_1.weight\" is missing") !=
            std::string::npos);
  write_config("comfy");
  auto unknown = load_model(dir.string(), LoadOptions{});
  std::printf("  wan unknown forced layout: %s\n", unknown.status().message().c_str());
  CHECK(!unknown.ok() && unknown.status().code() == StatusCode::kUnsupportedModel &&
        unknown.status().message() == "Unsupported Wan2.1 layout \"comfy\" (known: \"diffusers\", \"official\")");
  fs::remove_all(dir);
}

void unknown_layout() {
  const std::string dir = (fs::temp_directory_path() / ("ditto_wan_names_" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  Tensor w = Tensor::zeros(DType::F32, {4, 4}).value();
  CHECK_OK(write_safetensors(dir + "/model.safetensors", {{"time_projection.1.weight", w},
                                                          {"blocks.0.self_attn.q.weight", w},
                                                          {"blocks.0.img_attn.k_img.weight", w}}));
  auto file = SafetensorsFile::open(dir + "/model.safetensors");
  CHECK_OK(file);
  if (file.ok()) {
    Status s = wan::detect(*file.value());
    CHECK(s.code() == StatusCode::kUnsupportedModel);
    CHECK(s.message().find("\"blocks.0.img_attn.k_img.weight\"") != std::string::npos);
    std::printf("  wan unknown layout: %s\n", s.message().c_str());
  }
  fs::remove_all(dir);
}

void block_actions_and_kv(const GoldenCase& g) {
  std::shared_ptr<Denoiser> model = g.load(), fresh = g.load();
  if (!model || !fresh) return;
  const Inputs in = read_inputs(g);

  Captures full, skipped, scaled;
  ForwardOptions o;
  o.capture = full.sink();
  CHECK_OK(model->forward(in.x, in.t, in.conditions(), o));
  o.blocks.assign(2, BlockAction{});
  o.blocks[1].kind = BlockActionKind::Skip;
  o.capture = skipped.sink();
  CHECK_OK(model->forward(in.x, in.t, in.conditions(), o));
  o.blocks[1] = BlockAction{BlockActionKind::Scale, 0.5f};
  o.capture = scaled.sink();
  CHECK_OK(model->forward(in.x, in.t, in.conditions(), o));
  const auto& h0 = full.values["blocks.0.out"];
  const auto& h1 = full.values["blocks.1.out"];
  CHECK(max_abs_diff(skipped.values["blocks.1.out"], h0) == 0.0);
  std::vector<float> lerp(h0.size());
  for (size_t i = 0; i < h0.size(); ++i) lerp[i] = h0[i] + 0.5f * (h1[i] - h0[i]);
  CHECK(max_abs_diff(scaled.values["blocks.1.out"], lerp) <= 1e-6);
  CHECK(max_abs_diff(skipped.values["out"], full.values["out"]) > 1e-3);
  CHECK(max_abs_diff(scaled.values["out"], skipped.values["out"]) > 1e-3);

  // Session: CFG-like two branches (text, zeros) over two steps; step 2 reuses every block's K/V.
  Session session(model);
  StepRequest r;
  r.x = in.x;
  r.t = in.t;
  BranchPlan cond, uncond;
  cond.conditions = in.conditions();
  uncond.conditions = Conditions{{}, {Tensor::zeros(DType::F32, in.text.shape()).value()}};
  r.branches = {cond, uncond};
  auto s1 = session.step(r);
  CHECK_OK(s1);
  Tensor x2 = in.x.clone().value();
  for (int64_t i = 0; i < x2.numel(); ++i) x2.data<float>()[i] = -0.5f * x2.data<float>()[i];
  r.x = x2;
  r.t = {in.t[0] * 0.3f};
  auto s2 = session.step(r);
  CHECK_OK(s2);
  if (!s1.ok() || !s2.ok()) return;
  auto field = [&](const char* name) { return info_field(*model, name); };
  const uint64_t rows = 2, L = in.text.dim(1), D = field("hiddenSize"), Ct = field("textDim"), depth = field("depth");
  const uint64_t text_macs = rows * (L * Ct * D + L * D * D + depth * L * 2 * D * D);
  std::printf("  wan session: step 1 %llu MACs, step 2 %llu MACs (saved %llu = text embedder + K/V)\n",
              (unsigned long long)s1.value().macs, (unsigned long long)s2.value().macs,
              (unsigned long long)(s1.value().macs - s2.value().macs));
  CHECK(s1.value().macs - s2.value().macs == text_macs);
  auto re_cond = fresh->forward(x2, r.t, cond.conditions);
  auto re_uncond = fresh->forward(x2, r.t, uncond.conditions);
  CHECK_OK(re_cond);
  CHECK_OK(re_uncond);
  if (re_cond.ok() && re_uncond.ok()) {
    // The batched step and single forwards run different GEMM row counts, so compare each branch with a
    // recomputation in the same two-branch layout too.
    StepRequest again = r;
    auto s_fresh = run_step(*fresh, again);
    CHECK_OK(s_fresh);
    if (s_fresh.ok()) {
      CHECK(max_abs_diff(floats_of(s2.value().branch_outputs[0]), floats_of(s_fresh.value().branch_outputs[0])) == 0.0);
      CHECK(max_abs_diff(floats_of(s2.value().branch_outputs[1]), floats_of(s_fresh.value().branch_outputs[1])) == 0.0);
    }
    CHECK(max_abs_diff(floats_of(s2.value().branch_outputs[0]), floats_of(re_cond.value())) <= 1e-5);
  }
}

void validation(const GoldenCase& g) {
  auto m = load_model(kCase, LoadOptions{});
  if (!m.ok()) return;
  const Inputs in = read_inputs(g);
  Tensor image = Tensor::zeros(DType::F32, {1, 4, 8, 8}).value();
  auto r = m.value()->forward(image, in.t, in.conditions());
  CHECK(!r.ok() && r.status().message() ==
                       "Expected video latents x of shape [B, 4, F, H, W] (F32, F, H, W multiples of 1, 2, 2) but "
                       "received [1, 4, 8, 8] F32");
  auto none = m.value()->forward(in.x, in.t, Conditions{});
  CHECK(!none.ok() && none.status().message() == "Expected 1 condition (encoderHiddenStates) but received 0");
}

}  // namespace

int main() {
  rope_split();
  unknown_layout();
  GoldenCase g;
  g.default_atol = 1e-5;
  if (g.open(kCase)) {
    golden(g);
    layout_override();
    block_actions_and_kv(g);
    validation(g);
  }
  return finish("test_wan");
}

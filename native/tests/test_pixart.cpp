// PixArt family (native/src/models/pixart.cpp):
//  * ../shared/golden/pixart: every io_roles output (captured intermediates, out, out_without_mask) within
//    config.json's tolerances; perturbing masked-out text tokens changes nothing (check.masked_tokens_perturbed);
//  * block actions through the shared executor: a skipped block passes h through, a scaled one is the lerp;
//  * the cross-attention K/V cache: a session's second step with the same text skips exactly the caption
//    projection and K/V MACs and is bit-identical to a fresh model recomputing them; a new text recomputes;
//  * input validation messages and the unknown-layout error naming the tensor.
// Skips (with a message) when ../shared/golden is absent.
#include <cstring>
#include <filesystem>
#include <unistd.h>

#include "ditto/executor.h"
#include "golden_case.h"
#include "models/pixart.h"

using namespace ditto;
using namespace ditto_test;
namespace fs = std::filesystem;

namespace {

const std::string kCase = "../shared/golden/pixart";

struct Inputs {
  Tensor x, text, mask;
  std::vector<float> t;
  Conditions conditions(bool with_mask = true) const { return Conditions{{}, {text, with_mask ? mask : Tensor()}}; }
};

Inputs read_inputs(const GoldenCase& g) {
  Inputs in;
  in.x = g.get("hidden_states");
  in.text = g.get("encoder_hidden_states");
  in.mask = g.get("encoder_attention_mask");
  in.t = g.floats("timestep");
  return in;
}

void golden(Denoiser& m, const GoldenCase& g) {
  CHECK(m.info().family == "pixart");
  CHECK(m.info().conditions.size() == 2 && m.info().conditions[1].optional);
  const Inputs in = read_inputs(g);
  Captures cap;
  ForwardOptions opts;
  opts.capture = cap.sink();
  auto out = m.forward(in.x, in.t, in.conditions(), opts);
  CHECK_OK(out);
  auto no_mask = m.forward(in.x, in.t, in.conditions(false));
  CHECK_OK(no_mask);
  if (!out.ok() || !no_mask.ok()) return;
  cap.values["out_without_mask"] = floats_of(no_mask.value());
  // Masked-out tokens perturbed: the output must not move at all.
  Tensor text2 = in.text.clone().value();
  const int64_t L = text2.dim(1), C = text2.dim(2);
  for (int64_t i = 0; i < in.mask.numel(); ++i)
    if (in.mask.data<float>()[i] == 0.f)
      for (int64_t c = 0; c < C; ++c) text2.data<float>()[i * C + c] += 3.f;
  auto perturbed = m.forward(in.x, in.t, Conditions{{}, {text2, in.mask}});
  CHECK_OK(perturbed);
  if (perturbed.ok()) {
    const double change = max_abs_diff(floats_of(perturbed.value()), floats_of(out.value()));
    std::printf("  pixart masked tokens perturbed: max |change| %.3g (L = %lld)\n", change, (long long)L);
    CHECK(change == 0.0);
    cap.values["check.masked_tokens_perturbed.max_abs_change"] = {static_cast<float>(change)};
  }
  CHECK(g.compare_outputs(cap.values) == 13);
}

// Skip: block 1's output is its input; Scale(0.5): h0 + 0.5 (block(h0) - h0).
void block_actions(Denoiser& m, const GoldenCase& g) {
  const Inputs in = read_inputs(g);
  Captures full, skipped, scaled;
  ForwardOptions o;
  o.capture = full.sink();
  CHECK_OK(m.forward(in.x, in.t, in.conditions(), o));
  const size_t depth = static_cast<size_t>(m.backbone().depth());
  o.capture = skipped.sink();
  o.blocks.assign(depth, BlockAction{});
  o.blocks[1].kind = BlockActionKind::Skip;
  auto skip_out = m.forward(in.x, in.t, in.conditions(), o);
  CHECK_OK(skip_out);
  o.capture = scaled.sink();
  o.blocks[1] = BlockAction{BlockActionKind::Scale, 0.5f};
  auto scale_out = m.forward(in.x, in.t, in.conditions(), o);
  CHECK_OK(scale_out);
  const auto& h0 = full.values["transformer_blocks.0.out"];
  const auto& h1 = full.values["transformer_blocks.1.out"];
  CHECK(max_abs_diff(skipped.values["transformer_blocks.1.out"], h0) == 0.0);
  std::vector<float> lerp(h0.size());
  for (size_t i = 0; i < h0.size(); ++i) lerp[i] = h0[i] + 0.5f * (h1[i] - h0[i]);
  const double d = max_abs_diff(scaled.values["transformer_blocks.1.out"], lerp);
  std::printf("  pixart Scale(0.5) vs lerp: %.3g; skip changes out by %.3g\n", d,
              max_abs_diff(skipped.values["out"], full.values["out"]));
  CHECK(d <= 1e-6);
  CHECK(max_abs_diff(floats_of(skip_out.value()), full.values["out"]) > 1e-3);
  CHECK(max_abs_diff(floats_of(scale_out.value()), floats_of(skip_out.value())) > 1e-3);
}

// The condition's K/V computed once per generation: MACs and bits.
void kv_cache(const GoldenCase& g) {
  std::shared_ptr<Denoiser> model = g.load(), fresh = g.load();
  if (!model || !fresh) return;
  const Inputs in = read_inputs(g);
  Session session(model);
  StepRequest r;
  r.x = in.x;
  r.t = in.t;
  BranchPlan cond;
  cond.conditions = in.conditions();
  r.branches = {cond};
  auto s1 = session.step(r);
  CHECK_OK(s1);
  Tensor x2 = in.x.clone().value();
  for (int64_t i = 0; i < x2.numel(); ++i) x2.data<float>()[i] *= 0.75f;
  r.x = x2;
  r.t = {r.t[0] * 0.5f, r.t[1] * 0.5f};
  auto s2 = session.step(r);
  CHECK_OK(s2);
  if (!s1.ok() || !s2.ok()) return;
  auto field = [&](const char* name) { return info_field(*model, name); };
  const uint64_t B = 2, L = in.text.dim(1), D = field("hiddenSize"), Cc = field("captionChannels"),
                 depth = field("depth");
  const uint64_t text_macs = B * (L * Cc * D + L * D * D + depth * L * 2 * D * D);
  std::printf("  pixart session: step 1 %llu MACs, step 2 %llu MACs (saved %llu = caption + K/V)\n",
              (unsigned long long)s1.value().macs, (unsigned long long)s2.value().macs,
              (unsigned long long)(s1.value().macs - s2.value().macs));
  CHECK(s1.value().macs - s2.value().macs == text_macs);
  auto recomputed = fresh->forward(x2, r.t, in.conditions());
  CHECK_OK(recomputed);
  if (recomputed.ok())
    CHECK(max_abs_diff(floats_of(s2.value().branch_outputs[0]), floats_of(recomputed.value())) == 0.0);
  // A different text recomputes (same MACs as the first step) and matches a fresh computation.
  Tensor text2 = in.text.clone().value();
  text2.data<float>()[0] += 1.f;
  r.branches[0].conditions = Conditions{{}, {text2, in.mask}};
  auto s3 = session.step(r);
  CHECK_OK(s3);
  auto fresh3 = fresh->forward(x2, r.t, Conditions{{}, {text2, in.mask}});
  CHECK_OK(fresh3);
  if (s3.ok() && fresh3.ok()) {
    CHECK(s3.value().macs == s1.value().macs);
    CHECK(max_abs_diff(floats_of(s3.value().branch_outputs[0]), floats_of(fresh3.value())) == 0.0);
  }
}

void validation(Denoiser& m, const GoldenCase& g) {
  const Inputs in = read_inputs(g);
  auto missing = m.forward(in.x, in.t, Conditions{});
  CHECK(!missing.ok() && missing.status().message() == "Expected the condition encoderHiddenStates but it is missing");
  Tensor bad_text = Tensor::zeros(DType::F32, {2, 7, 5}).value();
  auto wrong = m.forward(in.x, in.t, Conditions{{}, {bad_text}});
  CHECK(!wrong.ok() && wrong.status().code() == StatusCode::kInvalidArgument &&
        wrong.status().message() ==
            "Expected encoderHiddenStates of shape [2, L, 32] (F32, L >= 1) but received [2, 7, 5] F32");
  Tensor bad_mask = Tensor::zeros(DType::F32, {2, 6}).value();
  auto wrong_mask = m.forward(in.x, in.t, Conditions{{}, {in.text, bad_mask}});
  CHECK(!wrong_mask.ok() &&
        wrong_mask.status().message() ==
            "Expected encoderAttentionMask of shape [2, 7] (F32, 1 = keep, 0 = masked) but received [2, 6] F32");
  auto labels = m.forward(in.x, in.t, Conditions{{1, 2}, {in.text}});
  CHECK(!labels.ok() && labels.status().message() == "PixArt takes no labels (it is conditioned on text embeddings)");
}

void unknown_layout() {
  const std::string dir = (fs::temp_directory_path() / ("ditto_pixart_layout_" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  Tensor w = Tensor::zeros(DType::F32, {4, 4}).value();
  CHECK_OK(write_safetensors(dir + "/model.safetensors",
                             {{"adaln_single.linear.weight", w}, {"transformer_blocks.0.attn3.to_q.weight", w}}));
  auto file = SafetensorsFile::open(dir + "/model.safetensors");
  CHECK_OK(file);
  if (file.ok()) {
    Status s = pixart::detect(*file.value());
    CHECK(s.code() == StatusCode::kUnsupportedModel);
    CHECK(s.message().find("\"transformer_blocks.0.attn3.to_q.weight\"") != std::string::npos);
  }
  fs::remove_all(dir);
}

}  // namespace

int main() {
  unknown_layout();
  GoldenCase g;
  g.default_atol = 1e-5;
  if (!g.open(kCase)) return finish("test_pixart");
  auto model = load_model(kCase, LoadOptions{});
  CHECK_OK(model);
  if (model.ok()) {
    golden(*model.value(), g);
    block_actions(*model.value(), g);
    validation(*model.value(), g);
    kv_cache(g);
  }
  return finish("test_pixart");
}

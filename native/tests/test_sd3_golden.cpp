// SD3 MMDiT against ../shared/golden/sd3 (diffusers SD3Transformer2DModel, SD3.5-style: dual attention in block
// 0, q/k RMSNorm): every io_roles output the engine produces (captured intermediates, out) within the case's
// tolerances; out_skip_layers_1 through the executor's Skip action on block 1; Scale on a block equals the lerp
// of its input and output; the batch split one sample at a time; input validation messages; bf16 loads and
// stays close. Skips cleanly without the golden folder.
#include <cmath>

#include "check.h"
#include "golden_case.h"

using namespace ditto;
using ditto_test::GoldenCase;

int main() {
  GoldenCase g;
  if (!g.open("../shared/golden/sd3")) return ditto_test::finish("test_sd3_golden");
  std::shared_ptr<Denoiser> model = g.load();
  if (!model) return ditto_test::finish("test_sd3_golden");
  Denoiser& m = *model;
  CHECK(m.info().family == "sd3");
  CHECK(m.backbone().lists.size() == 1 && m.backbone().lists[0].name == "transformer_blocks" &&
        m.backbone().lists[0].count == 3);

  const Tensor x = g.get("hidden_states");
  const Tensor ts = g.get("timestep");
  const std::vector<float> t(ts.data<float>(), ts.data<float>() + ts.numel());
  Conditions c;
  c.tensors = {g.get("encoder_hidden_states"), g.get("pooled_projections")};

  auto captured = ditto_test::forward_captured(m, x, t, c);
  const int compared = g.compare_outputs(captured, {"out_skip_layers_1"});
  CHECK(compared >= 12);

  // Skip-Layer Guidance: skip_layers=[1] is Skip on block 1 (both streams unchanged).
  std::vector<BlockAction> skip(3);
  skip[1].kind = BlockActionKind::Skip;
  auto skipped = m.forward(x, t, c, ForwardOptions{skip});
  CHECK_OK(skipped);
  if (skipped.ok()) g.compare("out_skip_layers_1", skipped.value(), "out_skip_layers_1");

  // Scale(0.4) on block 1: its output (image stream) is the lerp of block 0's and block 1's plain outputs.
  std::vector<BlockAction> scale(3);
  scale[1].kind = BlockActionKind::Scale;
  scale[1].alpha = 0.4f;
  auto scaled = ditto_test::forward_captured(m, x, t, c, scale);
  ditto_test::check_scaled_block(captured, scaled, "transformer_blocks.0.out", "transformer_blocks.1.out", 0.4f);
  ditto_test::check_scaled_block(captured, scaled, "transformer_blocks.0.out_context",
                                 "transformer_blocks.1.out_context", 0.4f);

  // One sample at a time gives the same outputs (per-sample modulation rows, per-sample joint attention).
  {
    const int64_t per = x.numel() / x.dim(0);
    const Tensor x1 = x.slice0(1, 2).value();
    Conditions c1;
    c1.tensors = {c.tensors[0].slice0(1, 2).value(), c.tensors[1].slice0(1, 2).value()};
    auto one = m.forward(x1, {t[1]}, c1);
    CHECK_OK(one);
    if (one.ok()) {
      const Tensor& all = captured.at("out");
      CHECK(ditto_test::all_close(one.value().data<float>(), all.data<float>() + per, static_cast<size_t>(per), 2e-5,
                                  1e-5, "sd3 batch split"));
    }
  }

  // Non-square latents inside the position table (crop offsets differ per axis).
  {
    auto x2 = Tensor::zeros(DType::F32, {1, 8, 12, 20});
    Conditions c2;
    c2.tensors = {c.tensors[0].slice0(0, 1).value(), c.tensors[1].slice0(0, 1).value()};
    auto out = m.forward(x2.value(), {500.f}, c2);
    CHECK_OK(out);
    if (out.ok()) CHECK(out.value().shape() == (Shape{1, 8, 12, 20}));
  }

  // Validation messages.
  {
    auto bad = m.forward(x, t, Conditions{{}, {c.tensors[0]}});
    CHECK(!bad.ok() && bad.status().message() == "SD3 needs the conditions encoderHiddenStates and pooledProjections");
    Conditions wrong;
    wrong.tensors = {c.tensors[1], c.tensors[1]};
    bad = m.forward(x, t, wrong);
    CHECK(!bad.ok() && bad.status().code() == StatusCode::kInvalidArgument &&
          bad.status().message() == "Expected encoderHiddenStates of dtype F32 and shape [2, L, 24] but received F32 [2, 20]");
    auto big = Tensor::zeros(DType::F32, {1, 8, 26, 8});
    Conditions c1;
    c1.tensors = {c.tensors[0].slice0(0, 1).value(), c.tensors[1].slice0(0, 1).value()};
    bad = m.forward(big.value(), {1.f}, c1);
    CHECK(!bad.ok() && bad.status().message() ==
                           "The latent grid 13x4 exceeds the position table (pos_embed_max_size 12)");
  }

  // bf16 compute loads and stays near the f32 output.
  {
    LoadOptions o;
    o.dtype = DType::BF16;
    auto bf = load_model(g.dir, o);
    CHECK_OK(bf);
    if (bf.ok()) {
      auto out = bf.value()->forward(x, t, c);
      CHECK_OK(out);
      if (out.ok()) {
        const Tensor& ref = captured.at("out");
        CHECK(ditto_test::all_close(out.value().data<float>(), ref.data<float>(), static_cast<size_t>(ref.numel()),
                                    0.15, 0.05, "sd3 bf16"));
      }
    }
  }
  return ditto_test::finish("test_sd3_golden");
}

// Flux against ../shared/golden/flux in both key layouts: model.safetensors (diffusers FluxTransformer2DModel)
// compared on every io_roles output the engine produces (embeddings, RoPE tables, every block's streams,
// norm_out, out), and model.official.safetensors (black-forest-labs flux.model.Flux names, batched ids) on
// official.out. Block actions on both block lists: a skipped double block passes both streams unchanged, a
// scaled single block is the lerp of its input and output. Also: config "layout" override, an unknown layout is
// ERR_UNSUPPORTED_MODEL naming the tensors, validation messages; the text-stream memo is exact and counted. Skips cleanly without the golden folder.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "check.h"
#include "ditto/executor.h"
#include "golden_case.h"

using namespace ditto;
using ditto_test::GoldenCase;
namespace fs = std::filesystem;

int main() {
  GoldenCase g;
  if (!g.open("../shared/golden/flux")) return ditto_test::finish("test_flux_golden");
  std::shared_ptr<Denoiser> model = g.load();
  if (!model) return ditto_test::finish("test_flux_golden");
  Denoiser& m = *model;
  CHECK(m.info().family == "flux" && m.info().layout == "diffusers");
  CHECK(m.backbone().lists.size() == 2 && m.backbone().lists[0].name == "transformer_blocks" &&
        m.backbone().lists[1].name == "single_transformer_blocks" && m.backbone().depth() == 4);

  const Tensor x = g.get("hidden_states");
  const Tensor ts = g.get("timestep");
  const std::vector<float> t(ts.data<float>(), ts.data<float>() + ts.numel());
  Conditions c;
  c.tensors = {g.get("encoder_hidden_states"), g.get("pooled_projections"), g.get("img_ids"), g.get("txt_ids"),
               g.get("guidance")};

  auto captured = ditto_test::forward_captured(m, x, t, c);
  const int compared = g.compare_outputs(captured, {"official."});
  CHECK(compared >= 20);

  // The official layout: same weights under black-forest-labs names, ids with a batch dimension.
  {
    auto official = load_model(g.dir + "/model.official.safetensors", LoadOptions{});
    CHECK_OK(official);
    if (official.ok()) {
      Denoiser& o = *official.value();
      CHECK(o.info().layout == "official" && o.backbone().lists[0].name == "double_blocks" &&
            o.backbone().lists[1].name == "single_blocks");
      Conditions co = c;
      co.tensors[2] = g.get("official.img_ids");
      co.tensors[3] = g.get("official.txt_ids");
      auto out = o.forward(x, t, co);
      CHECK_OK(out);
      if (out.ok()) g.compare("official.out", out.value(), "official.out");
    }
  }

  // Skip double block 1: both streams after it equal those after block 0, and the output changes.
  {
    std::vector<BlockAction> skip(4);
    skip[1].kind = BlockActionKind::Skip;
    auto s = ditto_test::forward_captured(m, x, t, c, skip);
    for (const char* stream : {".out", ".out_context"}) {
      const Tensor& a = s.at(std::string("transformer_blocks.1") + stream);
      const Tensor& b = captured.at(std::string("transformer_blocks.0") + stream);
      CHECK(ditto_test::all_close(a.data<float>(), b.data<float>(), static_cast<size_t>(a.numel()), 0, 0, "skip"));
    }
    const Tensor& so = s.at("out");
    const Tensor& po = captured.at("out");
    double diff = 0;
    for (int64_t i = 0; i < so.numel(); ++i) diff = std::max(diff, double(std::fabs(so.data<float>()[i] - po.data<float>()[i])));
    CHECK(diff > 1e-2);
  }
  // Scale single block 0 (global index 2) by 1.7.
  {
    std::vector<BlockAction> scale(4);
    scale[2].kind = BlockActionKind::Scale;
    scale[2].alpha = 1.7f;
    auto s = ditto_test::forward_captured(m, x, t, c, scale);
    ditto_test::check_scaled_block(captured, s, "transformer_blocks.1.out", "single_transformer_blocks.0.out", 1.7f);
    ditto_test::check_scaled_block(captured, s, "transformer_blocks.1.out_context",
                                   "single_transformer_blocks.0.out_context", 1.7f);
  }

  // Exact savings: the text stream's image- and timestep-independent work (context_embedder, pooled MLP) is
  // computed once per generation. A repeat costs exactly that much less and gives the same bits; changing one
  // sample's text recomputes that row only and equals a fresh model's output bit for bit.
  {
    auto fresh = load_model(g.dir, LoadOptions{});
    auto other = load_model(g.dir, LoadOptions{});
    CHECK_OK(fresh);
    CHECK_OK(other);
    if (fresh.ok() && other.ok()) {
      auto step = [&](Denoiser& model, const Conditions& conditions) {
        StepRequest req;
        req.x = x;
        req.t = t;
        BranchPlan b;
        b.conditions = conditions;
        req.branches = {b};
        return run_step(model, req);
      };
      auto bits_equal = [](const Tensor& a, const Tensor& b) {
        return a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
      };
      const uint64_t Lt = 6, Dj = 32, D = 32, P = 32, B = 2;
      const uint64_t context = Lt * Dj * D, pooled = P * D + D * D;
      auto first = step(*fresh.value(), c);
      auto again = step(*fresh.value(), c);
      CHECK_OK(first);
      CHECK_OK(again);
      if (first.ok() && again.ok()) {
        CHECK(bits_equal(first.value().branch_outputs[0], again.value().branch_outputs[0]));
        CHECK(first.value().macs - again.value().macs == B * (context + pooled));
        std::printf("flux text memo: %llu -> %llu MACs per forward of 2\n",
                    static_cast<unsigned long long>(first.value().macs), static_cast<unsigned long long>(again.value().macs));
      }
      Conditions changed = c;
      changed.tensors[0] = c.tensors[0].clone().value();
      changed.tensors[0].data<float>()[Lt * Dj + 5] += 0.5f;  // sample 1 only
      auto partial = step(*fresh.value(), changed);
      auto recomputed = step(*other.value(), changed);
      CHECK_OK(partial);
      CHECK_OK(recomputed);
      if (partial.ok() && recomputed.ok() && first.ok()) {
        CHECK(bits_equal(partial.value().branch_outputs[0], recomputed.value().branch_outputs[0]));
        CHECK(first.value().macs - partial.value().macs == context + 2 * pooled);
        CHECK(recomputed.value().macs == first.value().macs);
      }
    }
  }

  // Validation messages.
  {
    Conditions missing;
    missing.tensors = {c.tensors[0], c.tensors[1], c.tensors[2], c.tensors[3]};
    auto bad = m.forward(x, t, missing);
    CHECK(!bad.ok() && bad.status().message() ==
                           "Flux needs the conditions encoderHiddenStates, pooledProjections, imgIds, txtIds and guidance");
    Conditions wrong_ids = c;
    wrong_ids.tensors[2] = g.get("txt_ids");
    bad = m.forward(x, t, wrong_ids);
    CHECK(!bad.ok() && bad.status().code() == StatusCode::kInvalidArgument &&
          bad.status().message() == "Expected imgIds of dtype F32 and shape [2, 16, 3] (or [16, 3]) but received F32 [6, 3]");
  }

  // Layout override and unknown layouts, on copies in a temporary folder.
  {
    const fs::path dir = fs::temp_directory_path() / ("ditto_flux_layout_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::copy_file(g.dir + "/model.official.safetensors", dir / "model.safetensors", fs::copy_options::overwrite_existing);
    std::ofstream(dir / "config.json") << "{\"layout\": \"diffusers\", \"axes_dims_rope\": [4, 6, 6]}";
    auto forced = load_model(dir.string(), LoadOptions{});
    CHECK(!forced.ok() && forced.status().code() == StatusCode::kModelLoad &&
          forced.status().message().find("\"x_embedder.weight\" is missing") != std::string::npos);
    std::ofstream(dir / "config.json") << "{\"layout\": \"official\", \"axes_dims_rope\": [4, 6, 6]}";
    auto official = load_model(dir.string(), LoadOptions{});
    CHECK_OK(official);
    // A single-file checkpoint without config.json loads from the shapes alone; only the RoPE axes cannot be
    // derived at this head size (Flux's 128 defaults to 16/56/56).
    fs::remove(dir / "config.json");
    auto bare = load_model((dir / "model.safetensors").string(), LoadOptions{});
    CHECK(!bare.ok() && bare.status().message() ==
                            "No config.json beside the weights, and \"axes_dims_rope\" must be three even sizes (one per id column) "
                            "summing to the head size 16 (it is absent and the head size is not Flux's 128)");

    auto v = Tensor::zeros(DType::F32, {2, 2});
    CHECK_OK(write_safetensors((dir / "model.safetensors").string(),
                               {{"double_blocks.0.img_mod.lin.weight", v.value()}, {"single_blocks.0.norm", v.value()}}));
    auto unknown = load_model(dir.string(), LoadOptions{});
    CHECK(!unknown.ok() && unknown.status().code() == StatusCode::kUnsupportedModel);
    if (!unknown.ok()) {
      CHECK(unknown.status().message().find("unmatched tensors: double_blocks.0.img_mod.lin.weight, single_blocks.0.norm") !=
            std::string::npos);
      std::printf("unknown layout: %s\n", unknown.status().message().c_str());
    }
    fs::remove_all(dir);
  }
  return ditto_test::finish("test_flux_golden");
}

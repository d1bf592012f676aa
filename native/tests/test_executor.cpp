// The executor and sessions on the vendored glyph DiT (examples/models/glyphs, 6 blocks):
//  * per-sample reductions (relative L1, dot / norms) against naive references on odd sizes;
//  * load_model() through the registry gives a Denoiser with the family's config as data;
//  * the MAC counter: a plain forward counts dit.json's total; a skipped block, a perturbed attention, a
//    reused span and a first-block-cache hit are counted as saved, exactly;
//  * prefix sharing: branches sharing a prefix equal the same branches run separately, bit for bit;
//  * per-sample plans in one batch equal each sample run alone with its plan;
//  * slots: stored residuals are reused / forecast, bytes are counted and back to 0 after end(), after an
//    aborted step and when the session is destroyed;
//  * the First-Block Cache rule and the linear epilogue (guided / next) of a step, plain and anchored.
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "check.h"
#include "ditto/cpu/reductions.h"
#include "ditto/dit.h"
#include "ditto/executor.h"
#include "ditto/json.h"

using namespace ditto;
using namespace ditto_test;

namespace {

const char* kGlyphs = "examples/models/glyphs";

Tensor random_x(int64_t B, uint32_t seed) {
  std::vector<float> v = random_vector(static_cast<size_t>(B * 3 * 32 * 32), seed);
  Tensor t = Tensor::empty(DType::F32, {B, 3, 32, 32}).value();
  std::memcpy(t.raw(), v.data(), v.size() * sizeof(float));
  return t;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

double max_abs_diff(const float* a, const float* b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

std::vector<BlockAction> all(BlockActionKind kind, int64_t depth) {
  return std::vector<BlockAction>(static_cast<size_t>(depth), BlockAction{kind});
}

void test_reductions() {
  ThreadPool pool(2);
  for (int64_t batch : {1, 3}) {
    for (int64_t n : {1, 7, 1001}) {
      auto cur = random_vector(static_cast<size_t>(batch * n), 11);
      auto ref = random_vector(static_cast<size_t>(batch * n), 12);
      std::vector<float> rel(static_cast<size_t>(batch)), dot(rel), nx(rel), ny(rel);
      cpu::relative_l1(pool, cur.data(), ref.data(), batch, n, rel.data());
      cpu::dot_norm(pool, cur.data(), ref.data(), batch, n, dot.data(), nx.data(), ny.data());
      for (int64_t s = 0; s < batch; ++s) {
        long double d = 0, b = 0, p = 0, a2 = 0, b2 = 0;
        for (int64_t i = 0; i < n; ++i) {
          const long double c = cur[s * n + i], r = ref[s * n + i];
          d += std::fabs(c - r);
          b += std::fabs(r);
          p += c * r;
          a2 += c * c;
          b2 += r * r;
        }
        CHECK(std::fabs(rel[s] - double(d / b)) <= 1e-6 * double(d / b));
        CHECK(std::fabs(dot[s] - double(p)) <= 1e-5 * (1 + std::fabs(double(p))));
        CHECK(std::fabs(nx[s] - std::sqrt(double(a2))) <= 1e-6 * std::sqrt(double(a2)));
        CHECK(std::fabs(ny[s] - std::sqrt(double(b2))) <= 1e-6 * std::sqrt(double(b2)));
      }
    }
  }
  std::vector<float> zeros(5, 0.f), ones(5, 1.f);
  float rel = 0;
  cpu::relative_l1(pool, ones.data(), zeros.data(), 1, 5, &rel);
  CHECK(std::isinf(rel));
}

StepRequest request_for(const Tensor& x, const std::vector<float>& t) {
  StepRequest r;
  r.x = x;
  r.t = t;
  return r;
}

BranchPlan branch(std::vector<int64_t> labels, std::vector<std::vector<BlockAction>> actions = {},
                  std::string key = "") {
  BranchPlan b;
  b.key = std::move(key);
  b.conditions.labels = std::move(labels);
  b.actions = std::move(actions);
  return b;
}

}  // namespace

int main() {
  test_reductions();

  LoadOptions options;
  options.threads = 2;
  auto loaded = load_model(kGlyphs, options);
  CHECK_OK(loaded);
  if (!loaded.ok()) return finish("test_executor");
  std::shared_ptr<Denoiser> model(std::move(loaded).value().release());
  CHECK(model->info().family == "dit");
  CHECK(model->info().layout == "official");
  CHECK(model->device() == "cpu");
  CHECK(model->backbone().depth() == 6);
  const int64_t L = model->backbone().depth();
  const PartMacs parts = model->backbone().macs;

  // MACs: dit.json's count of one forward; skipping a block saves what the block costs.
  auto meta = read_json_file(std::string(kGlyphs) + "/dit.json");
  CHECK_OK(meta);
  const JsonValue& mj = *meta.value().find("macs_per_forward");
  const uint64_t total = static_cast<uint64_t>(mj.find("total")->as_int());
  CHECK(parts.total() == total);
  const int64_t D = 192;  // hidden size of the glyph DiT (dit.json kwargs)
  CHECK(static_cast<int64_t>(model->info().fields[4].value.index()) == 0);
  CHECK(std::get<double>(model->info().fields[4].value) == double(D));  // hiddenSize
  // The reference counts each block's adaLN projection with the block; the engine runs it in the prelude.
  CHECK(parts.block[0] + 6 * D * D == static_cast<uint64_t>(mj.find("per_block")->as_int()));

  const int64_t B = 3;
  const Tensor x = random_x(B, 7);
  const std::vector<float> t = {999.f, 500.f, 3.f};
  const std::vector<int64_t> labels = {1, 2, 3}, null_labels = {10, 10, 10};

  {
    StepRequest r = request_for(x, t);
    r.branches.push_back(branch(labels));
    auto plain = run_step(*model, r);
    CHECK_OK(plain);
    CHECK(plain.value().macs == B * total);
    CHECK(plain.value().macs_uncached == B * total);
    auto reference = model->forward(x, t, Conditions{labels, {}});
    CHECK_OK(reference);
    CHECK(bitwise_equal(plain.value().branch_outputs[0], reference.value()));

    auto skip = all(BlockActionKind::Compute, L);
    skip[2].kind = BlockActionKind::Skip;
    skip[4].kind = BlockActionKind::PerturbAttention;
    r.branches[0].actions = {skip};
    auto skipped = run_step(*model, r);
    CHECK_OK(skipped);
    const uint64_t attention = 2ull * 64 * 64 * D;  // QK^T and AV over 64 tokens
    CHECK(skipped.value().macs == B * (total - parts.block[2] - attention));
    CHECK(skipped.value().macs_uncached == B * total);
  }

  // Prefix sharing: cond / uncond / weak (cond labels, block 3 skipped, block 4 perturbed) with and
  // without sharing: bit for bit the same outputs; sharing saves the weak branch's blocks 0..2.
  {
    auto weak = all(BlockActionKind::Compute, L);
    weak[3].kind = BlockActionKind::Skip;
    weak[4].kind = BlockActionKind::PerturbAttention;
    StepRequest r = request_for(x, t);
    r.branches = {branch(labels), branch(null_labels), branch(labels, {weak})};
    auto shared = run_step(*model, r);
    r.share_prefixes = false;
    auto separate = run_step(*model, r);
    CHECK_OK(shared);
    CHECK_OK(separate);
    if (shared.ok() && separate.ok()) {
      for (size_t b = 0; b < 3; ++b)
        CHECK(bitwise_equal(shared.value().branch_outputs[b], separate.value().branch_outputs[b]));
      CHECK(separate.value().macs - shared.value().macs == B * (parts.block[0] + parts.block[1] + parts.block[2]));
      CHECK(shared.value().macs_uncached == 3 * B * total);
      // The weak branch alone equals its rows of the shared step.
      StepRequest alone = request_for(x, t);
      alone.branches = {branch(labels, {weak})};
      auto w = run_step(*model, alone);
      CHECK_OK(w);
      const int64_t n = w.value().branch_outputs[0].numel();
      CHECK(max_abs_diff(w.value().branch_outputs[0].data<float>(), shared.value().branch_outputs[2].data<float>(), n) <= 1e-6);
    }
    // Two identical branches: the second shares everything.
    r.share_prefixes = true;
    r.branches = {branch(labels), branch(labels)};
    auto twins = run_step(*model, r);
    CHECK_OK(twins);
    CHECK(bitwise_equal(twins.value().branch_outputs[0], twins.value().branch_outputs[1]));
    CHECK(twins.value().macs == B * (2 * total) - B * (parts.block[0] * L));
  }

  // Per-sample plans in one batch == each sample alone with its plan (the batch-invariance tolerance of
  // test_dit_golden).
  {
    std::vector<std::vector<BlockAction>> per_sample = {all(BlockActionKind::Compute, L), all(BlockActionKind::Compute, L),
                                                        all(BlockActionKind::Compute, L)};
    per_sample[1][2].kind = BlockActionKind::Skip;
    per_sample[2][4] = BlockAction{BlockActionKind::Scale, 0.5f};
    per_sample[2][0].kind = BlockActionKind::PerturbAttention;
    StepRequest r = request_for(x, t);
    r.branches = {branch(labels, per_sample)};
    auto batched = run_step(*model, r);
    CHECK_OK(batched);
    const int64_t sample = 3 * 32 * 32;
    for (int64_t s = 0; s < B; ++s) {
      ForwardOptions o;
      o.blocks = per_sample[static_cast<size_t>(s)];
      auto one = model->forward(x.slice0(s, s + 1).value(), {t[s]}, Conditions{{labels[s]}, {}}, o);
      CHECK_OK(one);
      const double e = max_abs_diff(one.value().data<float>(), batched.value().branch_outputs[0].data<float>() + s * sample, sample);
      if (!(e <= 1e-6)) std::fprintf(stderr, "per-sample plan %lld differs by %g\n", (long long)s, e);
      CHECK(e <= 1e-6);
    }
  }

  // Sessionless steps refuse stateful actions.
  {
    auto store = all(BlockActionKind::Compute, L);
    store[1].store_end = 4;
    StepRequest r = request_for(x, t);
    r.branches = {branch(labels, {store})};
    auto refused = run_step(*model, r);
    CHECK(!refused.ok() && refused.status().code() == StatusCode::kInvalidArgument);
  }

  // Sessions: store blocks [1, 4) at step 0, reuse them at step 1 (same inputs: the output matches the
  // computed one up to the rounding of h + (h' - h)); forecast with one stored residual = reuse.
  {
    Session session(model);
    auto store = all(BlockActionKind::Compute, L);
    store[1].store_end = 4;
    StepRequest r = request_for(x, t);
    r.branches = {branch(labels, {store}, "cond")};
    auto s0 = session.step(r);
    CHECK_OK(s0);
    const size_t row_bytes = 64 * D * sizeof(float);
    CHECK(session.slot_bytes() == B * row_bytes);
    CHECK(session.slot_count() == static_cast<size_t>(B));

    auto reuse = all(BlockActionKind::Compute, L);
    reuse[1] = BlockAction{BlockActionKind::Reuse, 1.f, 4, 0};
    reuse[2].kind = reuse[3].kind = BlockActionKind::Skip;
    r.branches = {branch(labels, {reuse}, "cond")};
    auto s1 = session.step(r);
    CHECK_OK(s1);
    const int64_t n = s0.value().branch_outputs[0].numel();
    CHECK(max_abs_diff(s0.value().branch_outputs[0].data<float>(), s1.value().branch_outputs[0].data<float>(), n) <= 1e-4);
    CHECK(s1.value().macs == B * (total - parts.block[1] - parts.block[2] - parts.block[3]) + B * 2 * 64 * D);

    auto forecast = reuse;
    forecast[1].kind = BlockActionKind::Forecast;
    r.branches = {branch(labels, {forecast}, "cond")};
    auto s2 = session.step(r);
    CHECK_OK(s2);
    CHECK(bitwise_equal(s1.value().branch_outputs[0], s2.value().branch_outputs[0]));

    // A reuse of a slot another branch key stored is an error, and changes nothing.
    r.branches = {branch(labels, {reuse}, "uncond")};
    auto missing = session.step(r);
    CHECK(!missing.ok() && missing.status().code() == StatusCode::kInvalidArgument);
    CHECK(session.slot_bytes() == B * row_bytes);
    // ... also when another branch of the same step would have stored something first.
    auto store_first = all(BlockActionKind::Compute, L);
    store_first[0].store_end = 1;  // would be stored before the reuse at block 1 is reached
    r.branches = {branch(labels, {store_first}, "other"), branch(labels, {reuse}, "uncond")};
    auto half = session.step(r);
    CHECK(!half.ok() && half.status().message() == "Branch 1 sample 0 block 1: no residual stored for blocks [1, 4)");
    CHECK(session.slot_bytes() == B * row_bytes);
    CHECK(session.slot_count() == static_cast<size_t>(B));

    session.end();
    CHECK(session.slot_bytes() == 0);
    CHECK(session.slot_count() == 0);

    // Abort: the step fails with kAborted and the generation's slots are freed.
    r.branches = {branch(labels, {store}, "cond")};
    CHECK_OK(session.step(r));
    CHECK(session.slot_bytes() > 0);
    std::atomic<bool> abort{true};
    r.abort = &abort;
    auto aborted = session.step(r);
    CHECK(!aborted.ok() && aborted.status().code() == StatusCode::kAborted);
    CHECK(session.slot_bytes() == 0);
  }

  // Forecast: residuals R0 (step 0) and R1 (step 1) of blocks [2, 6); at step 2 the forecast adds
  // R1 + (R1 - R0) = 2 R1 - R0: the same as reusing a slot holding that value.
  {
    Session session(model);
    auto store = all(BlockActionKind::Compute, L);
    store[2].store_end = 6;
    StepRequest r = request_for(x, t);
    r.branches = {branch(labels, {store})};
    CHECK_OK(session.step(r));
    r.t = {900.f, 400.f, 10.f};
    CHECK_OK(session.step(r));
    CHECK(session.slot_bytes() == 2 * B * 64 * D * sizeof(float));  // current and previous per sample
    auto forecast = all(BlockActionKind::Skip, L);
    forecast[0].kind = forecast[1].kind = BlockActionKind::Compute;
    forecast[2] = BlockAction{BlockActionKind::Forecast, 1.f, 6, 0};
    r.t = {800.f, 300.f, 20.f};
    r.branches = {branch(labels, {forecast})};
    auto predicted = session.step(r);
    CHECK_OK(predicted);
    auto reuse = forecast;
    reuse[2].kind = BlockActionKind::Reuse;
    r.branches = {branch(labels, {reuse})};
    auto reused = session.step(r);  // adds R1 only
    CHECK_OK(reused);
    CHECK(!bitwise_equal(predicted.value().branch_outputs[0], reused.value().branch_outputs[0]));
  }

  // First-Block Cache: step 0 computes (distance +inf, no hit); step 1 with the same inputs has distance 0
  // and reuses the rest; a zero threshold never hits.
  {
    Session session(model);
    StepRequest r = request_for(x, t);
    BranchPlan b = branch(labels);
    b.first_block_cache = FirstBlockCacheRule{true, 1, 0.05f};
    r.branches = {b};
    auto s0 = session.step(r);
    CHECK_OK(s0);
    CHECK(std::isinf(s0.value().signals[0][0]));
    CHECK(s0.value().cache_hits[0][0] == 0);
    CHECK(s0.value().macs > B * total);  // the residual bookkeeping costs a little
    auto s1 = session.step(r);
    CHECK_OK(s1);
    for (int64_t s = 0; s < B; ++s) {
      CHECK(s1.value().signals[0][static_cast<size_t>(s)] == 0.f);
      CHECK(s1.value().cache_hits[0][static_cast<size_t>(s)] == 1);
    }
    uint64_t rest = 0;
    for (int64_t i = 1; i < L; ++i) rest += parts.block[static_cast<size_t>(i)];
    CHECK(s1.value().macs < B * (total - rest) + B * 8 * 64 * D);
    const int64_t n = s0.value().branch_outputs[0].numel();
    CHECK(max_abs_diff(s0.value().branch_outputs[0].data<float>(), s1.value().branch_outputs[0].data<float>(), n) <= 1e-4);
    r.branches[0].first_block_cache.threshold = 0.f;
    auto s2 = session.step(r);
    CHECK_OK(s2);
    CHECK(s2.value().cache_hits[0][0] == 0);
  }
  {
    // A session's slots die with it (the model is shared, so it outlives the session).
    auto session = std::make_unique<Session>(model);
    auto store = all(BlockActionKind::Compute, L);
    store[0].store_end = 6;
    StepRequest r = request_for(x, t);
    r.branches = {branch(labels, {store})};
    CHECK_OK(session->step(r));
    CHECK(session->slot_bytes() == B * 64 * D * sizeof(float));
    session.reset();
    CHECK(model.use_count() == 1);
  }

  // Epilogue: guided = s * cond + (1 - s) * uncond; next = a x + c guided + d extra, in that float32 order.
  {
    StepRequest r = request_for(x, t);
    r.branches = {branch(labels), branch(null_labels)};
    r.epilogue.enabled = true;
    r.epilogue.branch_weights = {4.f, -3.f};
    r.epilogue.a = 0.9f;
    r.epilogue.c = -0.1f;
    const Tensor extra = random_x(B, 99);
    r.epilogue.extras = {extra};
    r.epilogue.extra_weights = {0.25f};
    auto step = run_step(*model, r);
    CHECK_OK(step);
    const StepResult& s = step.value();
    const int64_t n = x.numel();
    bool exact = true;
    for (int64_t j = 0; j < n; ++j) {
      float g = 4.f * s.branch_outputs[0].data<float>()[j];
      g += -3.f * s.branch_outputs[1].data<float>()[j];
      float nx = 0.9f * x.data<float>()[j] + -0.1f * g;
      nx += 0.25f * extra.data<float>()[j];
      exact = exact && g == s.guided.data<float>()[j] && nx == s.next.data<float>()[j];
    }
    CHECK(exact);
    r.epilogue.branch_weights = {1.f};
    auto bad = run_step(*model, r);
    CHECK(!bad.ok() && bad.status().message() == "Expected 2 branch weights (one per branch) but received 1");
  }

  // Anchored epilogue (combineBranches' order): guided = anchor + w_b (out_b - anchor) for the other branches in
  // order, each op rounded to float32; three branches, anchored at the middle one.
  {
    StepRequest r = request_for(x, t);
    const auto weak = all(BlockActionKind::Compute, L);
    auto skip2 = weak;
    skip2[2].kind = BlockActionKind::Skip;
    r.branches = {branch(labels), branch(null_labels), branch(labels, {skip2})};
    r.epilogue.enabled = true;
    r.epilogue.branch_weights = {4.f, 123.f /* unused: the anchor's */, -1.5f};
    r.epilogue.anchor = 1;
    r.epilogue.a = 1.f;
    r.epilogue.c = -0.05f;
    auto step = run_step(*model, r);
    CHECK_OK(step);
    const StepResult& s = step.value();
    bool exact = true;
    for (int64_t j = 0; j < x.numel(); ++j) {
      const float u = s.branch_outputs[1].data<float>()[j];
      volatile float d0 = s.branch_outputs[0].data<float>()[j] - u;
      volatile float w0 = d0 * 4.f;
      volatile float g = u + w0;
      volatile float d2 = s.branch_outputs[2].data<float>()[j] - u;
      volatile float w2 = d2 * -1.5f;
      g = g + w2;
      volatile float cx = 1.f * x.data<float>()[j];
      volatile float cg = -0.05f * g;
      const float nx = cx + cg;
      exact = exact && g == s.guided.data<float>()[j] && nx == s.next.data<float>()[j];
    }
    CHECK(exact);
    r.epilogue.anchor = 3;
    auto bad = run_step(*model, r);
    CHECK(!bad.ok() && bad.status().message() == "Expected an anchor branch between -1 and 2 but received 3");
  }
  return finish("test_executor");
}

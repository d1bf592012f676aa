// The executor's contract with backends, and sessions. One block loop (native/src/runtime/executor.cpp)
// drives any Backbone on any backend: the backend supplies BackboneKernels (prelude, one block over a run of
// rows, final) and a small op table over its own memory (BackendOps: copy, lerp, axpby, per-sample relative
// L1 and dot / norms). A Session carries state across the steps of one generation: residual slots keyed by
// (branch, sample, block span) with their bytes counted, freed at end(), on abort and on destruction.
// A step runs several branches (e.g. conditional / unconditional / weak), each with a plan per sample;
// branches with equal plans run batched, a branch whose inputs equal an earlier branch's and whose plan first
// differs at block k shares blocks 0..k-1 with it (prefix sharing). The caching hooks follow FORA / Δ-DiT
// (reuse a stored residual), TaylorSeer (forecast it by finite differences) and First-Block Cache
// (ParaAttention's FBCache: decide after the first block from the relative L1 of its residual change).
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "ditto/model.h"
#include "ditto/status.h"
#include "ditto/tensor.h"

namespace ditto {

// f32 memory of a backend (host for the CPU, device for CUDA).
struct BackendBuffer {
  std::shared_ptr<float> data;
  int64_t floats = 0;
  size_t bytes() const { return static_cast<size_t>(floats) * sizeof(float); }
};

// Element-wise ops and reductions over backend pointers, n elements per call (per sample for reductions).
// Reductions return their per-sample results to the host.
class BackendOps {
 public:
  virtual ~BackendOps() = default;
  virtual Result<BackendBuffer> allocate(int64_t floats) = 0;
  virtual Status copy(float* dst, const float* src, int64_t n) = 0;
  // out = x + w * (y - x)
  virtual Status lerp(const float* x, const float* y, float w, float* out, int64_t n) = 0;
  // out = a * x + b * y
  virtual Status axpby(float a, const float* x, float b, const float* y, float* out, int64_t n) = 0;
  // out = x * y (element-wise; Tensor.mul, inpainting's mask)
  virtual Status mul(const float* x, const float* y, float* out, int64_t n) = 0;
  // rel_l1[s] = sum |cur - ref| / sum |ref| over sample s's n elements (0/0 -> +inf)
  virtual Status relative_l1(const float* cur, const float* ref, int64_t batch, int64_t n, float* rel_l1) = 0;
  // dot[s] = <x, y>, norm_x[s] = |x|, norm_y[s] = |y| over sample s's n elements
  virtual Status dot_norm(const float* x, const float* y, int64_t batch, int64_t n, float* dot, float* norm_x,
                          float* norm_y) = 0;
  // Host memory -> this backend's memory and back (plain copies by default, for host backends; CUDA's wait for
  // the stream and count every copy: docs/cuda.md, "Device tensors").
  virtual Status upload(float* dst, const float* host, int64_t n);
  virtual Status download(float* host, const float* src, int64_t n);
};

// What a family's backend implements for the executor. Rows are samples of the combined batch (all branches).
class BackboneKernels {
 public:
  virtual ~BackboneKernels() = default;
  virtual BackendOps& ops() = 0;
  // Input checks with user-facing messages (kInvalidArgument), before any work.
  virtual Status validate(const Tensor& x, const std::vector<float>& t, const Conditions& conditions) = 0;
  // Sizes the workspace for x.dim(0) rows and runs the prelude; hidden() then holds h [rows, hidden_row_size()].
  virtual Status prelude(const Tensor& x, const std::vector<float>& t, const Conditions& conditions,
                         const IntermediateSink* capture) = 0;
  // h[first_row, first_row + rows) <- block(h) in place; perturb_attention: self-attention output = V.
  virtual Status block(int64_t index, int64_t first_row, int64_t rows, bool perturb_attention) = 0;
  // The final part over all rows -> the output tensor on the host.
  virtual Result<Tensor> final(int64_t rows, const IntermediateSink* capture) = 0;
  // Captures the hidden state after block `index` under the family's module name.
  virtual Status emit_block(int64_t index, int64_t rows, const IntermediateSink& capture) = 0;
  virtual float* hidden() = 0;
  virtual int64_t hidden_row_size() const = 0;  // floats per sample of h for the current input size
  // MACs per sample at the current input size (after prelude()).
  virtual PartMacs part_macs() const = 0;
  virtual uint64_t attention_macs(int64_t index) const = 0;  // what PerturbAttention saves of block `index`
};

// ---- steps ------------------------------------------------------------------------------------------------
enum class SignalKind : uint8_t {
  InputChange,     // relative L1 of block `block`'s input vs the same branch/sample's at the previous such request
  ResidualChange,  // relative L1 of block `block`'s residual (h_out - h_in) vs the previous one
  // The next two are read where the row stores the span [block, end) this step (NaN for rows that do not), from
  // the residual R just computed, before it replaces the stored one:
  ForecastError,   // sum |P - R| / sum |R|, P = what Reuse (order 0) / Forecast (order 1) would have added now (+inf: none)
  ResidualNorm,    // |R|_2 of the sample (MagCache's magnitude, ratios taken by the caller)
};
struct SignalRequest {
  int32_t block = 0;
  SignalKind kind = SignalKind::ResidualChange;
  int32_t end = 0;    // ForecastError / ResidualNorm: end (exclusive) of the stored span
  int32_t order = 1;  // ForecastError: 0 = reuse, 1 = first-order forecast
};

// First-Block Cache (ParaAttention FBCache) run natively: blocks [0, probe_end) are computed (per the plan);
// then per sample d = rel_l1(residual of [0, probe_end), the one stored when the rest was last computed);
// d < threshold and a stored residual of [probe_end, depth) -> h += that residual and the rest is skipped;
// otherwise the rest runs per the plan and its residual and the probe residual are stored.
// Generalised for the other online rules: rest_end < depth keeps blocks [rest_end, depth) running (DBCache's Bn);
// input_probe (probe_end 0) takes d = rel_l1(block 0's input, the previous step's), the reference updated at every
// step (TeaCache, EasyCache); hit when accumulated[s] + scale[s] * poly(d) < threshold (poly = coefficients, highest
// power first; empty = identity; accumulated / scale empty = 0 / 1), so a caller keeps the rule's running sums and
// can force a sample to compute (accumulated = +inf).
struct FirstBlockCacheRule {
  bool enabled = false;
  int32_t probe_end = 1;
  float threshold = 0.f;
  int32_t rest_end = 0;  // 0 = depth
  bool input_probe = false;
  std::vector<float> coefficients;
  std::vector<float> accumulated;  // per sample
  std::vector<float> scale;        // per sample
};

struct BranchPlan {
  std::string key;           // slot key across steps (e.g. "cond", "uncond"); default: the branch index
  Conditions conditions;     // this branch's conditions for the step's B samples
  // actions[s][block]: one row per sample, or a single row for every sample, or empty (compute everything)
  std::vector<std::vector<BlockAction>> actions;
  std::vector<SignalRequest> signals;
  FirstBlockCacheRule first_block_cache;
};

// guided = sum_b branch_weights[b] * out_b;  next = a * x + c * guided + sum_j extra_weights[j] * extras[j]
// With an anchor branch a (>= 0) guided is instead out_a + sum_{b != a} branch_weights[b] * (out_b - out_a), over
// the other branches in order, each -, *, + rounded to float32: the order of src/guidance/guider.ts'
// combineBranches (CFG: uncond + s * (cond - uncond)), so a pipeline step through the epilogue keeps its bits.
struct StepEpilogue {
  bool enabled = false;
  std::vector<float> branch_weights;
  int32_t anchor = -1;  // -1: plain weighted sum; else the branch the differences are taken against
  float a = 0.f, c = 1.f;
  std::vector<float> extra_weights;
  std::vector<Tensor> extras;  // each shaped like x
};

struct StepRequest {
  Tensor x;                     // [B, ...] shared by every branch
  std::vector<float> t;         // [B]
  std::vector<BranchPlan> branches;
  StepEpilogue epilogue;
  bool return_branch_outputs = true;
  bool share_prefixes = true;   // false: every branch runs from block 0 (for tests and measurements)
  const std::atomic<bool>* abort = nullptr;
  IntermediateSink capture;     // single branch only
  // > 0: a cap on the session's stored bytes. A store that would pass it frees its slot instead, and a Reuse /
  // Forecast whose span is then missing computes the span (never an error); 0 = no cap.
  uint64_t cache_budget_bytes = 0;
  // With the epilogue: count NaN / ±Inf in `next` inside the step (StepResult::next_non_finite), so a caller's
  // per-step finiteness check needs no host wait of its own (on a GPU: one fused reduction, docs/cuda.md).
  bool count_non_finite = false;
};

struct StepResult {
  std::vector<Tensor> branch_outputs;       // [B, ...] per branch (when requested)
  Tensor guided, next;                      // when the epilogue is enabled
  // signals[b][k * B + s]: branch b's k-th signal request, sample s (then the first-block-cache distance last)
  std::vector<std::vector<float>> signals;
  std::vector<std::vector<uint8_t>> cache_hits;  // [b][s]: the first-block cache reused the rest
  uint64_t macs = 0;           // executed
  uint64_t macs_uncached = 0;  // every branch computing every block, no sharing
  uint64_t blocks_computed = 0;  // block kernel runs, summed over rows
  uint64_t blocks_reused = 0;    // blocks replaced by a stored residual (Reuse / Forecast spans, cache hits)
  int64_t next_non_finite = -1;  // NaN / ±Inf elements of next (count_non_finite), else -1
};

// State of one generation. Not thread-safe: one step at a time (the binding queues them on the model's job queue).
class Session {
 public:
  explicit Session(std::shared_ptr<Denoiser> model);
  ~Session();
  Result<StepResult> step(const StepRequest& request);
  // Frees every slot; later steps start from empty state.
  void end();
  size_t slot_bytes() const { return bytes_.load(); }  // readable from any thread
  size_t slot_count() const { return slots_.size(); }
  int64_t steps() const { return step_index_; }

  struct Slot {
    BackendBuffer current, previous;  // latest residual and the one before (for Forecast)
    int64_t current_step = -1, previous_step = -1;
  };
  // (branch key, sample, span begin, span end, role)
  using SlotKey = std::tuple<std::string, int64_t, int32_t, int32_t, int>;

 private:
  friend struct StepRunner;
  std::shared_ptr<Denoiser> model_;
  std::map<SlotKey, Slot> slots_;
  std::atomic<size_t> bytes_{0};
  int64_t step_index_ = 0;
};

// Runs a sessionless step (no slots: Reuse / Forecast / store / signals / first-block cache are rejected).
Result<StepResult> run_step(Denoiser& model, const StepRequest& request);

}  // namespace ditto

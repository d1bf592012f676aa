// The executor: the one block loop for every backbone on every backend (see ditto/executor.h for the
// contract). A step lays its branches out as one batch (branch-major rows: branch b, sample s -> row b*B + s),
// runs the prelude once over all rows, then walks the blocks: at each block, consecutive rows whose action
// needs the block kernel (Compute / Scale / PerturbAttention) go to the backend as one run, Scale rows are
// saved before and blended after, Reuse / Forecast rows add a stored residual, Skip rows are left alone.
// A branch forking from an earlier one at block k gets that branch's rows copied in at k and is idle before.
// Stores, signals and the First-Block Cache work per row on the backend's memory through BackendOps; only the
// per-sample reduction values come back to the host. Every kernel call adds its MACs to the step's counter.
#include "ditto/executor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "ditto/cpu/finite.h"

namespace ditto {

uint64_t PartMacs::total() const {
  uint64_t t = prelude + final;
  for (uint64_t b : block) t += b;
  return t;
}

int64_t Backbone::depth() const {
  int64_t d = 0;
  for (const auto& l : lists) d += l.count;
  return d;
}

namespace {

enum SlotRole : int { kStored = 0, kSignalRef = 1, kProbeRef = 2, kRest = 3 };

bool is_kernel(BlockActionKind k) {
  return k == BlockActionKind::Compute || k == BlockActionKind::Scale || k == BlockActionKind::PerturbAttention;
}

bool same_conditions(const Conditions& a, const Conditions& b) {
  if (a.labels != b.labels || a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const Tensor& x = a.tensors[i];
    const Tensor& y = b.tensors[i];
    if (x.shape() != y.shape() || x.dtype() != y.dtype()) return false;
    if (x.nbytes() > 0 && std::memcmp(x.raw(), y.raw(), x.nbytes()) != 0) return false;
  }
  return true;
}

// Branch conditions stacked along dim 0 (labels and each condition tensor).
Result<Conditions> stack_conditions(const std::vector<BranchPlan>& branches) {
  Conditions all;
  for (const auto& b : branches) all.labels.insert(all.labels.end(), b.conditions.labels.begin(), b.conditions.labels.end());
  const size_t num_tensors = branches[0].conditions.tensors.size();
  for (size_t j = 0; j < num_tensors; ++j) {
    Shape shape = branches[0].conditions.tensors[j].shape();
    if (shape.empty()) {  // an optional condition left out: it must be left out by every branch
      for (const auto& b : branches)
        if (b.conditions.tensors.size() <= j || b.conditions.tensors[j].ndim() != 0)
          return invalid_argument("Expected condition tensor " + std::to_string(j) + " to be given by every branch or by none");
      all.tensors.emplace_back();
      continue;
    }
    for (size_t b = 0; b < branches.size(); ++b) {
      if (branches[b].conditions.tensors.size() != num_tensors)
        return invalid_argument("Expected " + std::to_string(num_tensors) + " condition tensors in every branch");
      const Tensor& t = branches[b].conditions.tensors[j];
      if (t.ndim() == 0 || t.dtype() != branches[0].conditions.tensors[j].dtype())
        return invalid_argument("Expected condition tensor " + std::to_string(j) + " of every branch to have the same dtype");
      if (b > 0) shape[0] += t.dim(0);
    }
    DITTO_ASSIGN_OR_RETURN(Tensor stacked, Tensor::empty(branches[0].conditions.tensors[j].dtype(), shape));
    size_t offset = 0;
    for (const auto& b : branches) {
      const Tensor& t = b.conditions.tensors[j];
      std::memcpy(static_cast<uint8_t*>(stacked.raw()) + offset, t.raw(), t.nbytes());
      offset += t.nbytes();
    }
    all.tensors.push_back(std::move(stacked));
  }
  return all;
}

std::string action_error(size_t branch, int64_t sample, int64_t block, const std::string& what) {
  return "Branch " + std::to_string(branch) + " sample " + std::to_string(sample) + " block " + std::to_string(block) +
         ": " + what;
}

}  // namespace

// One step's working state.
struct StepRunner {
  Denoiser& model;
  Session* session;  // null: sessionless forward
  const StepRequest& req;
  BackboneKernels& k;
  BackendOps& ops;
  int64_t B = 0, nb = 0, rows = 0, L = 0, row_size = 0;
  std::vector<std::vector<std::vector<BlockAction>>> plan;  // [branch][sample][block]
  std::vector<int> parent;                                  // -1 = root
  std::vector<int64_t> fork;                                // first block the branch runs itself
  PartMacs macs;
  uint64_t executed = 0;
  BackendBuffer scratch;  // [rows, row_size]: Scale inputs
  StepResult result;

  struct Pending {  // a residual store in flight: the input snapshot of one row
    int64_t row = 0;
    int32_t begin = 0, end = 0;
    int role = kStored;
    BackendBuffer input;
  };
  std::vector<Pending> pending;
  std::vector<BackendBuffer> block_input;  // per row: input of the current block, when a residual signal wants it
  std::vector<BackendBuffer> probe_input;  // per row: input of block 0 for the first-block cache
  std::vector<uint8_t> rest_cached;         // per row: the first-block cache reused the rest
  std::vector<int64_t> rest_end;            // per branch: end of the span the first-block cache may reuse

  StepRunner(Denoiser& m, Session* s, const StepRequest& r)
      : model(m), session(s), req(r), k(m.kernels()), ops(m.kernels().ops()) {}

  float* row_ptr(int64_t r) { return k.hidden() + r * row_size; }
  Session::SlotKey slot_key(int64_t r, int32_t begin, int32_t end, int role) const {
    const size_t b = static_cast<size_t>(r / B);
    std::string key = req.branches[b].key.empty() ? std::to_string(b) : req.branches[b].key;
    return {key, r % B, begin, end, role};
  }

  Status validate() {
    nb = static_cast<int64_t>(req.branches.size());
    if (nb == 0) return invalid_argument("Expected at least one branch");
    const Tensor& x = req.x;
    DITTO_RETURN_IF_ERROR(validate_devices());
    for (size_t b = 0; b < req.branches.size(); ++b)
      DITTO_RETURN_IF_ERROR(k.validate(x, req.t, req.branches[b].conditions));
    B = x.dim(0);
    L = model.backbone().depth();
    if (req.capture && nb != 1) return invalid_argument("Capture needs a single branch");
    const bool stateful_allowed = session != nullptr;
    plan.assign(static_cast<size_t>(nb), {});
    rest_end.assign(static_cast<size_t>(nb), L);
    for (size_t b = 0; b < req.branches.size(); ++b) {
      const BranchPlan& bp = req.branches[b];
      const auto& a = bp.actions;
      if (!a.empty() && static_cast<int64_t>(a.size()) != 1 && static_cast<int64_t>(a.size()) != B)
        return invalid_argument("Expected 1 or " + std::to_string(B) + " block plans (one per sample) for branch " +
                                std::to_string(b) + " but received " + std::to_string(a.size()));
      for (int64_t s = 0; s < B; ++s) {
        std::vector<BlockAction> row = a.empty() ? std::vector<BlockAction>(static_cast<size_t>(L))
                                                 : a[a.size() == 1 ? 0 : static_cast<size_t>(s)];
        if (static_cast<int64_t>(row.size()) != L)
          return invalid_argument("Expected " + std::to_string(L) + " block actions (one per block) but received " +
                                  std::to_string(row.size()));
        int64_t skip_until = 0;
        for (int64_t i = 0; i < L; ++i) {
          const BlockAction& act = row[static_cast<size_t>(i)];
          if (act.kind == BlockActionKind::Scale && !std::isfinite(act.alpha))
            return invalid_argument("Expected a finite scale for block " + std::to_string(i));
          if (i < skip_until && act.kind != BlockActionKind::Skip)
            return invalid_argument(action_error(b, s, i, "inside a reused span, expected skip"));
          const bool reuse = act.kind == BlockActionKind::Reuse || act.kind == BlockActionKind::Forecast;
          if (reuse || act.store_end != 0) {
            if (!stateful_allowed)
              return invalid_argument("Reuse, forecast and store actions need a session (model.session())");
          }
          if (reuse) {
            if (act.span_end <= i || act.span_end > L)
              return invalid_argument(action_error(b, s, i, "span end " + std::to_string(act.span_end) +
                                                                " is outside (" + std::to_string(i) + ", " +
                                                                std::to_string(L) + "]"));
            skip_until = act.span_end;
          }
          if (act.store_end != 0 && (act.store_end <= i || act.store_end > L))
            return invalid_argument(action_error(b, s, i, "store end " + std::to_string(act.store_end) +
                                                              " is outside (" + std::to_string(i) + ", " +
                                                              std::to_string(L) + "]"));
        }
        plan[b].push_back(std::move(row));
      }
      for (const auto& sig : bp.signals) {
        if (!stateful_allowed) return invalid_argument("Signals need a session (model.session())");
        if (sig.block < 0 || sig.block >= L)
          return invalid_argument("Expected a signal block in [0, " + std::to_string(L - 1) + "] but received " +
                                  std::to_string(sig.block));
        const bool span = sig.kind == SignalKind::ForecastError || sig.kind == SignalKind::ResidualNorm;
        if (span && (sig.end <= sig.block || sig.end > L))
          return invalid_argument("Expected a signal span end in [" + std::to_string(sig.block + 1) + ", " +
                                  std::to_string(L) + "] but received " + std::to_string(sig.end));
        if (sig.kind == SignalKind::ForecastError && sig.order != 0 && sig.order != 1)
          return invalid_argument("Expected a forecast-error order of 0 or 1 but received " + std::to_string(sig.order));
      }
      const FirstBlockCacheRule& fbc = bp.first_block_cache;
      rest_end[b] = fbc.rest_end == 0 ? L : fbc.rest_end;
      if (fbc.enabled) {
        if (!stateful_allowed) return invalid_argument("The first-block cache needs a session (model.session())");
        if (fbc.input_probe ? fbc.probe_end != 0 : (fbc.probe_end < 1 || fbc.probe_end >= L))
          return invalid_argument(fbc.input_probe ? "Expected the first-block cache's probe end 0 with an input probe but received " +
                                                        std::to_string(fbc.probe_end)
                                                  : "Expected the first-block cache's probe end in [1, " + std::to_string(L - 1) +
                                                        "] but received " + std::to_string(fbc.probe_end));
        if (rest_end[b] <= fbc.probe_end || rest_end[b] > L)
          return invalid_argument("Expected the first-block cache's rest end in [" + std::to_string(fbc.probe_end + 1) +
                                  ", " + std::to_string(L) + "] but received " + std::to_string(rest_end[b]));
        if (!std::isfinite(fbc.threshold) || fbc.threshold < 0)
          return invalid_argument("Expected a finite, non-negative first-block cache threshold");
        for (const auto* v : {&fbc.accumulated, &fbc.scale})
          if (!v->empty() && static_cast<int64_t>(v->size()) != B)
            return invalid_argument("Expected " + std::to_string(B) + " per-sample values for the first-block cache but received " +
                                    std::to_string(v->size()));
        for (int64_t s = 0; s < B; ++s)
          for (int64_t i = 0; i < L; ++i) {
            const BlockAction& act = plan[b][static_cast<size_t>(s)][static_cast<size_t>(i)];
            if ((act.kind == BlockActionKind::Reuse || act.kind == BlockActionKind::Forecast) && act.span_end > fbc.probe_end &&
                i < fbc.probe_end)
              return invalid_argument(action_error(b, s, i, "a reused span crosses the first-block cache's probe end"));
          }
      }
    }
    // Every reused span must have been stored at an earlier step: checked before any work, so a rejected step
    // changes nothing in the session.
    for (size_t b = 0; b < req.branches.size(); ++b) {
      const std::string key = req.branches[b].key.empty() ? std::to_string(b) : req.branches[b].key;
      for (int64_t s = 0; s < B; ++s)
        for (int64_t i = 0; i < L; ++i) {
          const BlockAction& act = plan[b][static_cast<size_t>(s)][static_cast<size_t>(i)];
          if (act.kind != BlockActionKind::Reuse && act.kind != BlockActionKind::Forecast) continue;
          auto it = session->slots_.find(Session::SlotKey{key, s, static_cast<int32_t>(i), act.span_end, kStored});
          if ((it == session->slots_.end() || !it->second.current.data) && req.cache_budget_bytes > 0) {
            // dropped for the budget: compute the span instead
            auto& row = plan[b][static_cast<size_t>(s)];
            for (int32_t j = static_cast<int32_t>(i); j < act.span_end; ++j) row[static_cast<size_t>(j)].kind = BlockActionKind::Compute;
            continue;
          }
          if (it == session->slots_.end() || !it->second.current.data)
            return invalid_argument(action_error(b, s, i, "no residual stored for blocks [" + std::to_string(i) + ", " +
                                                              std::to_string(act.span_end) + ")"));
        }
    }
    const StepEpilogue& e = req.epilogue;
    if (e.enabled) {
      if (static_cast<int64_t>(e.branch_weights.size()) != nb)
        return invalid_argument("Expected " + std::to_string(nb) + " branch weights (one per branch) but received " +
                                std::to_string(e.branch_weights.size()));
      if (e.anchor < -1 || e.anchor >= nb)
        return invalid_argument("Expected an anchor branch between -1 and " + std::to_string(nb - 1) +
                                " but received " + std::to_string(e.anchor));
      if (e.extra_weights.size() != e.extras.size())
        return invalid_argument("Expected one weight per extra tensor");
      for (const Tensor& extra : e.extras)
        if (extra.dtype() != DType::F32 || extra.shape() != x.shape())
          return invalid_argument("Expected extra tensors of shape " + shape_string(x.shape()) + " but received " +
                                  shape_string(extra.shape()));
    }
    return Status::Ok();
  }

  // Where the step's tensors live (docs/cuda.md, "Device tensors"): x on the host or on the model's device (the
  // outputs follow x), the epilogue's extras where x is, conditions on the host. Mixing is a user error.
  Status validate_devices() const {
    const std::string where = req.x.device_name();
    if (!req.x.on_host() && where != model.device())
      return invalid_argument("Expected x on the host or on the model's device " + model.device() + " but it is on " + where);
    for (const Tensor& extra : req.epilogue.extras)
      if (extra.device_name() != where)
        return invalid_argument("Expected extra tensors on " + where + " (where x is) but one is on " + extra.device_name());
    for (const BranchPlan& bp : req.branches)
      for (const Tensor& c : bp.conditions.tensors)
        if (!c.on_host()) return invalid_argument("Expected condition tensors on the host but one is on " + c.device_name());
    return Status::Ok();
  }

  // A new f32 tensor shaped `shape` where x lives: host memory, or a buffer of the backend's (device tensors).
  Result<Tensor> empty_like_x(const Shape& shape) {
    if (req.x.on_host()) return Tensor::empty(DType::F32, shape);
    DITTO_ASSIGN_OR_RETURN(BackendBuffer buf, ops.allocate(shape_numel(shape)));
    float* data = buf.data.get();
    return Tensor::borrow_device(std::shared_ptr<const void>(buf.data), data, DType::F32, shape, req.x.device());
  }

  // A branch may start from an earlier root branch's rows when its inputs are the same and its plan agrees
  // with that branch's up to the fork; stores / signals / the first-block cache of its own stop the prefix.
  void plan_sharing() {
    parent.assign(static_cast<size_t>(nb), -1);
    fork.assign(static_cast<size_t>(nb), 0);
    if (!req.share_prefixes) return;
    for (int64_t c = 1; c < nb; ++c) {
      const BranchPlan& cp = req.branches[static_cast<size_t>(c)];
      if (cp.first_block_cache.enabled) continue;
      int64_t limit = L;
      for (const auto& sig : cp.signals) limit = std::min<int64_t>(limit, sig.block);
      for (int64_t s = 0; s < B; ++s)
        for (int64_t i = 0; i < limit; ++i) {
          const BlockAction& a = plan[static_cast<size_t>(c)][static_cast<size_t>(s)][static_cast<size_t>(i)];
          if (a.store_end != 0 || a.kind == BlockActionKind::Reuse || a.kind == BlockActionKind::Forecast) {
            limit = i;
            break;
          }
        }
      for (int64_t p = 0; p < c; ++p) {
        if (parent[static_cast<size_t>(p)] != -1) continue;  // share with roots only
        const BranchPlan& pp = req.branches[static_cast<size_t>(p)];
        if (pp.first_block_cache.enabled || !same_conditions(pp.conditions, cp.conditions)) continue;
        int64_t f = limit;
        for (int64_t s = 0; s < B; ++s)
          for (int64_t i = 0; i < f; ++i) {
            const BlockAction& a = plan[static_cast<size_t>(c)][static_cast<size_t>(s)][static_cast<size_t>(i)];
            const BlockAction& pa = plan[static_cast<size_t>(p)][static_cast<size_t>(s)][static_cast<size_t>(i)];
            // the parent's own stores / reuse change nothing in h except Reuse / Forecast
            if (!(a.kind == pa.kind && a.alpha == pa.alpha && a.span_end == pa.span_end) ||
                pa.kind == BlockActionKind::Reuse || pa.kind == BlockActionKind::Forecast) {
              f = i;
              break;
            }
          }
        if (f > fork[static_cast<size_t>(c)]) {
          fork[static_cast<size_t>(c)] = f;
          parent[static_cast<size_t>(c)] = static_cast<int>(p);
        }
      }
    }
  }

  bool active(int64_t r, int64_t i) const {
    return fork[static_cast<size_t>(r / B)] <= i &&
           !(rest_cached[static_cast<size_t>(r)] && i < rest_end[static_cast<size_t>(r / B)]);
  }
  const BlockAction& action(int64_t r, int64_t i) const {
    return plan[static_cast<size_t>(r / B)][static_cast<size_t>(r % B)][static_cast<size_t>(i)];
  }

  Result<BackendBuffer> snapshot(int64_t r) {
    DITTO_ASSIGN_OR_RETURN(BackendBuffer buf, ops.allocate(row_size));
    DITTO_RETURN_IF_ERROR(ops.copy(buf.data.get(), row_ptr(r), row_size));
    return buf;
  }

  // Moves `value` into the slot (the slot's current value becomes its previous one).
  void put_slot(const Session::SlotKey& key, BackendBuffer value, bool keep_history) {
    if (req.cache_budget_bytes > 0) {
      auto it = session->slots_.find(key);
      size_t freed = 0;
      if (it != session->slots_.end()) freed = keep_history ? it->second.previous.bytes() : it->second.current.bytes();
      if (session->bytes_.load() - freed + value.bytes() > req.cache_budget_bytes) {
        // over budget: drop the slot (its users compute instead)
        if (it != session->slots_.end()) {
          session->bytes_ -= it->second.current.bytes() + it->second.previous.bytes();
          session->slots_.erase(it);
        }
        return;
      }
    }
    Session::Slot& slot = session->slots_[key];
    if (keep_history) {
      if (slot.previous.data) session->bytes_ -= slot.previous.bytes();
      slot.previous = std::move(slot.current);
      slot.previous_step = slot.current_step;
    } else if (slot.current.data) {
      session->bytes_ -= slot.current.bytes();
    }
    session->bytes_ += value.bytes();
    slot.current = std::move(value);
    slot.current_step = session->step_index_;
  }
  const Session::Slot* find_slot(const Session::SlotKey& key) const {
    auto it = session->slots_.find(key);
    return it == session->slots_.end() || !it->second.current.data ? nullptr : &it->second;
  }

  // h_row - input -> a new buffer (the residual of the blocks since `input` was taken)
  Result<BackendBuffer> residual(int64_t r, const BackendBuffer& input) {
    DITTO_ASSIGN_OR_RETURN(BackendBuffer res, ops.allocate(row_size));
    DITTO_RETURN_IF_ERROR(ops.axpby(1.f, row_ptr(r), -1.f, input.data.get(), res.data.get(), row_size));
    executed += 2 * static_cast<uint64_t>(row_size);
    return res;
  }

  // rel-L1 of `value` vs the slot `key` (+inf when empty); the slot then holds `value`.
  Result<float> change_signal(const Session::SlotKey& key, BackendBuffer value) {
    float d = std::numeric_limits<float>::infinity();
    if (const Session::Slot* ref = find_slot(key))
      DITTO_RETURN_IF_ERROR(ops.relative_l1(value.data.get(), ref->current.data.get(), 1, row_size, &d));
    put_slot(key, std::move(value), false);
    return d;
  }

  Status add_stored(int64_t r, int64_t i, const BlockAction& a) {
    const Session::Slot* slot = find_slot(slot_key(r, static_cast<int32_t>(i), a.span_end, kStored));
    if (!slot) return internal_error("Reused slot vanished during a step");  // validate() checked it exists
    float* h = row_ptr(r);
    if (a.kind == BlockActionKind::Forecast && slot->previous.data && slot->current_step != slot->previous_step) {
      // R(s) ~ R1 + (R1 - R0) * (s - s1) / (s1 - s0)   (first-order finite difference in the step index)
      const float f = static_cast<float>(session->step_index_ - slot->current_step) /
                      static_cast<float>(slot->current_step - slot->previous_step);
      DITTO_ASSIGN_OR_RETURN(BackendBuffer predicted, ops.allocate(row_size));
      DITTO_RETURN_IF_ERROR(ops.axpby(1.f + f, slot->current.data.get(), -f, slot->previous.data.get(),
                                      predicted.data.get(), row_size));
      DITTO_RETURN_IF_ERROR(ops.axpby(1.f, h, 1.f, predicted.data.get(), h, row_size));
      executed += 4 * static_cast<uint64_t>(row_size);
      result.blocks_reused += static_cast<uint64_t>(a.span_end - i);
      return Status::Ok();
    }
    result.blocks_reused += static_cast<uint64_t>(a.span_end - i);
    DITTO_RETURN_IF_ERROR(ops.axpby(1.f, h, 1.f, slot->current.data.get(), h, row_size));
    executed += 2 * static_cast<uint64_t>(row_size);
    return Status::Ok();
  }

  // The first-block cache's decision for row r from its probe value (the residual of [0, probe_end), or block 0's
  // input for an input probe): reuse the stored rest [probe_end, rest_end) or compute it and store it.
  Status decide_rest(int64_t r, BackendBuffer probe) {
    const size_t b = static_cast<size_t>(r / B);
    const size_t s = static_cast<size_t>(r % B);
    const BranchPlan& bp = req.branches[b];
    const FirstBlockCacheRule& fbc = bp.first_block_cache;
    const int32_t end = static_cast<int32_t>(rest_end[b]);
    const auto probe_key = slot_key(r, 0, fbc.probe_end, kProbeRef);
    const auto rest_key = slot_key(r, fbc.probe_end, end, kRest);
    float d = std::numeric_limits<float>::infinity();
    if (const Session::Slot* ref = find_slot(probe_key))
      DITTO_RETURN_IF_ERROR(ops.relative_l1(probe.data.get(), ref->current.data.get(), 1, row_size, &d));
    result.signals[b][bp.signals.size() * static_cast<size_t>(B) + s] = d;
    double value = d;
    if (!fbc.coefficients.empty()) {
      value = 0;
      for (float c : fbc.coefficients) value = value * d + c;  // Horner, highest power first
    }
    const double acc = fbc.accumulated.empty() ? 0.0 : fbc.accumulated[s];
    const double scale = fbc.scale.empty() ? 1.0 : fbc.scale[s];
    const Session::Slot* rest = find_slot(rest_key);
    const bool hit = rest && std::isfinite(d) && acc + scale * value < fbc.threshold;
    // TeaCache / EasyCache compare with the previous step's input, FBCache with the probe of the last computed step.
    if (fbc.input_probe || !hit) put_slot(probe_key, std::move(probe), false);
    if (hit) {
      DITTO_RETURN_IF_ERROR(ops.axpby(1.f, row_ptr(r), 1.f, rest->current.data.get(), row_ptr(r), row_size));
      executed += 2 * static_cast<uint64_t>(row_size);
      rest_cached[static_cast<size_t>(r)] = 1;
      result.cache_hits[b][s] = 1;
      result.blocks_reused += static_cast<uint64_t>(end - fbc.probe_end);
    } else {
      DITTO_ASSIGN_OR_RETURN(BackendBuffer in, snapshot(r));
      pending.push_back({r, fbc.probe_end, end, kRest, std::move(in)});
    }
    return Status::Ok();
  }

  // Everything a block needs before the kernel runs: forks, snapshots, input signals, reused spans.
  Status before_block(int64_t i) {
    for (int64_t c = 0; c < nb; ++c)
      if (fork[static_cast<size_t>(c)] == i && parent[static_cast<size_t>(c)] >= 0)
        DITTO_RETURN_IF_ERROR(ops.copy(row_ptr(c * B), row_ptr(parent[static_cast<size_t>(c)] * B), B * row_size));
    for (int64_t r = 0; r < rows; ++r) {
      if (!active(r, i)) continue;
      const BranchPlan& bp = req.branches[static_cast<size_t>(r / B)];
      if (bp.first_block_cache.enabled && bp.first_block_cache.input_probe && i == 0) {
        DITTO_ASSIGN_OR_RETURN(BackendBuffer in, snapshot(r));
        DITTO_RETURN_IF_ERROR(decide_rest(r, std::move(in)));
        if (!active(r, i)) continue;
      }
      const BlockAction& a = action(r, i);
      if (a.store_end != 0) {
        DITTO_ASSIGN_OR_RETURN(BackendBuffer in, snapshot(r));
        pending.push_back({r, static_cast<int32_t>(i), a.store_end, kStored, std::move(in)});
      }
      if (bp.first_block_cache.enabled && !bp.first_block_cache.input_probe && i == 0) {
        DITTO_ASSIGN_OR_RETURN(probe_input[static_cast<size_t>(r)], snapshot(r));
      }
      for (size_t q = 0; q < bp.signals.size(); ++q) {
        const SignalRequest& sig = bp.signals[q];
        if (sig.block != i) continue;
        if (sig.kind == SignalKind::InputChange) {
          DITTO_ASSIGN_OR_RETURN(BackendBuffer in, snapshot(r));
          DITTO_ASSIGN_OR_RETURN(float d, change_signal(slot_key(r, sig.block, -1 - static_cast<int32_t>(sig.kind), kSignalRef),
                                                        std::move(in)));
          result.signals[static_cast<size_t>(r / B)][q * static_cast<size_t>(B) + static_cast<size_t>(r % B)] = d;
        } else if (sig.kind == SignalKind::ResidualChange && !block_input[static_cast<size_t>(r)].data) {
          DITTO_ASSIGN_OR_RETURN(block_input[static_cast<size_t>(r)], snapshot(r));
        }
      }
      if (a.kind == BlockActionKind::Reuse || a.kind == BlockActionKind::Forecast) DITTO_RETURN_IF_ERROR(add_stored(r, i, a));
    }
    return Status::Ok();
  }

  // The kernel runs of block i: consecutive active rows needing the kernel with the same attention mode.
  Status run_block(int64_t i) {
    const uint64_t block_macs = macs.block[static_cast<size_t>(i)];
    const uint64_t attention_macs = k.attention_macs(i);
    int64_t r = 0;
    while (r < rows) {
      if (!active(r, i) || !is_kernel(action(r, i).kind)) {
        ++r;
        continue;
      }
      const bool perturb = action(r, i).kind == BlockActionKind::PerturbAttention;
      int64_t end = r + 1;
      while (end < rows && active(end, i) && is_kernel(action(end, i).kind) &&
             (action(end, i).kind == BlockActionKind::PerturbAttention) == perturb)
        ++end;
      // Scale rows: keep their inputs (consecutive rows with one alpha as one copy / one blend).
      auto for_scale_spans = [&](auto&& fn) -> Status {
        int64_t s = r;
        while (s < end) {
          if (action(s, i).kind != BlockActionKind::Scale) {
            ++s;
            continue;
          }
          const float alpha = action(s, i).alpha;
          int64_t e = s + 1;
          while (e < end && action(e, i).kind == BlockActionKind::Scale && action(e, i).alpha == alpha) ++e;
          DITTO_RETURN_IF_ERROR(fn(s, e, alpha));
          s = e;
        }
        return Status::Ok();
      };
      DITTO_RETURN_IF_ERROR(for_scale_spans([&](int64_t s, int64_t e, float) -> Status {
        if (!scratch.data) {
          DITTO_ASSIGN_OR_RETURN(scratch, ops.allocate(rows * row_size));
        }
        return ops.copy(scratch.data.get() + s * row_size, row_ptr(s), (e - s) * row_size);
      }));
      DITTO_RETURN_IF_ERROR(k.block(i, r, end - r, perturb));
      result.blocks_computed += static_cast<uint64_t>(end - r);
      executed += static_cast<uint64_t>(end - r) * (block_macs - (perturb ? attention_macs : 0));
      DITTO_RETURN_IF_ERROR(for_scale_spans([&](int64_t s, int64_t e, float alpha) -> Status {
        // h_out = h_in + alpha * (block(h_in) - h_in)
        executed += static_cast<uint64_t>((e - s) * row_size);
        return ops.lerp(scratch.data.get() + s * row_size, row_ptr(s), alpha, row_ptr(s), (e - s) * row_size);
      }));
      r = end;
    }
    return Status::Ok();
  }

  // ForecastError / ResidualNorm requests on the span a row has just stored, from its new residual `res`, before it
  // replaces the stored one.
  Status span_signals(const Pending& p, const BackendBuffer& res) {
    const size_t b = static_cast<size_t>(p.row / B);
    const BranchPlan& bp = req.branches[b];
    for (size_t q = 0; q < bp.signals.size(); ++q) {
      const SignalRequest& sig = bp.signals[q];
      if (sig.block != p.begin || sig.end != p.end) continue;
      float& out = result.signals[b][q * static_cast<size_t>(B) + static_cast<size_t>(p.row % B)];
      if (sig.kind == SignalKind::ResidualNorm) {
        float dot = 0, norm = 0, unused = 0;
        DITTO_RETURN_IF_ERROR(ops.dot_norm(res.data.get(), res.data.get(), 1, row_size, &dot, &norm, &unused));
        out = norm;
      } else if (sig.kind == SignalKind::ForecastError) {
        out = std::numeric_limits<float>::infinity();
        const Session::Slot* slot = find_slot(slot_key(p.row, p.begin, p.end, p.role));
        if (!slot) continue;
        if (sig.order == 1 && slot->previous.data && slot->current_step != slot->previous_step) {
          // the prediction add_stored's Forecast would make at this step
          const float f = static_cast<float>(session->step_index_ - slot->current_step) /
                          static_cast<float>(slot->current_step - slot->previous_step);
          DITTO_ASSIGN_OR_RETURN(BackendBuffer predicted, ops.allocate(row_size));
          DITTO_RETURN_IF_ERROR(ops.axpby(1.f + f, slot->current.data.get(), -f, slot->previous.data.get(),
                                          predicted.data.get(), row_size));
          DITTO_RETURN_IF_ERROR(ops.relative_l1(predicted.data.get(), res.data.get(), 1, row_size, &out));
        } else if (sig.order == 0) {
          DITTO_RETURN_IF_ERROR(ops.relative_l1(slot->current.data.get(), res.data.get(), 1, row_size, &out));
        }
      }
    }
    return Status::Ok();
  }

  // After block i: finished stores, residual signals, the first-block cache decision.
  Status after_block(int64_t i) {
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->end != i + 1) {
        ++it;
        continue;
      }
      DITTO_ASSIGN_OR_RETURN(BackendBuffer res, residual(it->row, it->input));
      if (it->role == kStored || it->role == kRest) DITTO_RETURN_IF_ERROR(span_signals(*it, res));
      put_slot(slot_key(it->row, it->begin, it->end, it->role), std::move(res), it->role == kStored);
      it = pending.erase(it);
    }
    for (int64_t r = 0; r < rows; ++r) {
      if (!active(r, i)) continue;
      const size_t b = static_cast<size_t>(r / B);
      const BranchPlan& bp = req.branches[b];
      for (size_t q = 0; q < bp.signals.size(); ++q) {
        const SignalRequest& sig = bp.signals[q];
        if (sig.block != i || sig.kind != SignalKind::ResidualChange) continue;
        DITTO_ASSIGN_OR_RETURN(BackendBuffer res, residual(r, block_input[static_cast<size_t>(r)]));
        DITTO_ASSIGN_OR_RETURN(float d, change_signal(slot_key(r, sig.block, -1 - static_cast<int32_t>(sig.kind), kSignalRef),
                                                      std::move(res)));
        result.signals[b][q * static_cast<size_t>(B) + static_cast<size_t>(r % B)] = d;
      }
      block_input[static_cast<size_t>(r)] = {};
      const FirstBlockCacheRule& fbc = bp.first_block_cache;
      if (!fbc.enabled || i != fbc.probe_end - 1) continue;
      if (fbc.input_probe) continue;
      DITTO_ASSIGN_OR_RETURN(BackendBuffer probe, residual(r, probe_input[static_cast<size_t>(r)]));
      probe_input[static_cast<size_t>(r)] = {};
      DITTO_RETURN_IF_ERROR(decide_rest(r, std::move(probe)));
    }
    return Status::Ok();
  }

  // The step's input batch: x once per branch (no copy for one branch).
  Result<Tensor> stacked_x() {
    if (nb == 1) return req.x;
    Shape shape = req.x.shape();
    shape[0] *= nb;
    if (!req.x.on_host()) {  // validate() checked x is F32
      DITTO_ASSIGN_OR_RETURN(Tensor all, empty_like_x(shape));
      for (int64_t b = 0; b < nb; ++b)
        DITTO_RETURN_IF_ERROR(ops.copy(all.data<float>() + b * req.x.numel(), req.x.data<float>(), req.x.numel()));
      return all;
    }
    DITTO_ASSIGN_OR_RETURN(Tensor all, Tensor::empty(req.x.dtype(), shape));
    for (int64_t b = 0; b < nb; ++b)
      std::memcpy(static_cast<uint8_t*>(all.raw()) + b * req.x.nbytes(), req.x.raw(), req.x.nbytes());
    return all;
  }

  Status epilogue() {
    const StepEpilogue& e = req.epilogue;
    const int64_t n = req.x.numel();
    if (result.branch_outputs[0].shape() != req.x.shape())  // e.g. a learned-σ model's 2C output channels
      return invalid_argument("Expected model outputs of shape " + shape_string(req.x.shape()) +
                              " for the step epilogue but received " + shape_string(result.branch_outputs[0].shape()));
    DITTO_ASSIGN_OR_RETURN(result.guided, empty_like_x(req.x.shape()));
    DITTO_ASSIGN_OR_RETURN(result.next, empty_like_x(req.x.shape()));
    executed += static_cast<uint64_t>(n) * (static_cast<uint64_t>(nb) + 2 + e.extras.size());
    if (!req.x.on_host()) return device_epilogue();
    float* g = result.guided.data<float>();
    float* nx = result.next.data<float>();
    const float* x = req.x.data<float>();
    if (e.anchor >= 0) {
      // combineBranches' order: acc = anchor; acc = acc + (out_b - anchor) * w_b for the other branches in order.
      const float* base = result.branch_outputs[static_cast<size_t>(e.anchor)].data<float>();
      std::memcpy(g, base, static_cast<size_t>(n) * sizeof(float));
      for (int64_t b = 0; b < nb; ++b) {
        if (b == e.anchor) continue;
        const float* o = result.branch_outputs[static_cast<size_t>(b)].data<float>();
        const float w = e.branch_weights[static_cast<size_t>(b)];
        for (int64_t j = 0; j < n; ++j) {
          const float weighted = (o[j] - base[j]) * w;
          g[j] = g[j] + weighted;
        }
      }
    } else {
      // Left to right in float32, as cpu::linear_combination: the same numbers on every backend.
      for (int64_t j = 0; j < n; ++j) g[j] = e.branch_weights[0] * result.branch_outputs[0].data<float>()[j];
      for (int64_t b = 1; b < nb; ++b) {
        const float* o = result.branch_outputs[static_cast<size_t>(b)].data<float>();
        const float w = e.branch_weights[static_cast<size_t>(b)];
        for (int64_t j = 0; j < n; ++j) g[j] += w * o[j];
      }
    }
    // next in cpu::linear_combination's order (a·x, then + c·guided, then + each d_j·extra_j): Tensor.combine's
    // bits, which is how the schedulers' step() computes a flow-match Euler update.
    for (int64_t j = 0; j < n; ++j) nx[j] = e.a * x[j] + e.c * g[j];
    for (size_t q = 0; q < e.extras.size(); ++q) {
      const float* xe = e.extras[q].data<float>();
      const float w = e.extra_weights[q];
      for (int64_t j = 0; j < n; ++j) nx[j] += w * xe[j];
    }
    return Status::Ok();
  }

  // The same epilogue, in the same order, on the device through the backend's ops (x, the outputs and the extras
  // are there): each a·u + b·v is one axpby, so only the device's fused multiply-add may differ in the last bit.
  Status device_epilogue() {
    const StepEpilogue& e = req.epilogue;
    const int64_t n = req.x.numel();
    float* g = result.guided.data<float>();
    float* nx = result.next.data<float>();
    auto out = [&](int64_t b) { return result.branch_outputs[static_cast<size_t>(b)].data<float>(); };
    if (e.anchor >= 0) {
      const float* base = out(e.anchor);
      DITTO_RETURN_IF_ERROR(ops.copy(g, base, n));
      for (int64_t b = 0; b < nb; ++b) {
        if (b == e.anchor) continue;
        DITTO_RETURN_IF_ERROR(ops.axpby(1.f, out(b), -1.f, base, nx, n));  // nx as scratch: out_b - anchor
        DITTO_RETURN_IF_ERROR(ops.axpby(1.f, g, e.branch_weights[static_cast<size_t>(b)], nx, g, n));
      }
    } else {
      DITTO_RETURN_IF_ERROR(ops.axpby(e.branch_weights[0], out(0), 0.f, out(0), g, n));
      for (int64_t b = 1; b < nb; ++b)
        DITTO_RETURN_IF_ERROR(ops.axpby(1.f, g, e.branch_weights[static_cast<size_t>(b)], out(b), g, n));
    }
    DITTO_RETURN_IF_ERROR(ops.axpby(e.a, req.x.data<float>(), e.c, g, nx, n));
    for (size_t q = 0; q < e.extras.size(); ++q)
      DITTO_RETURN_IF_ERROR(ops.axpby(1.f, nx, e.extra_weights[q], e.extras[q].data<float>(), nx, n));
    return Status::Ok();
  }

  // NaN / ±Inf elements of t: counted directly on the host; on a device one fused reduction (Σx² via dot_norm)
  // decides and only a non-finite result is downloaded to count (the binding's Tensor.countNonFinite rule).
  Result<int64_t> count_non_finite(const Tensor& t) {
    const int64_t n = t.numel();
    if (n == 0) return int64_t{0};
    if (t.on_host()) return cpu::count_non_finite(t.data<float>(), DType::F32, n);
    float dot = 0, norm_x = 0, norm_y = 0;
    DITTO_RETURN_IF_ERROR(ops.dot_norm(t.data<float>(), t.data<float>(), 1, n, &dot, &norm_x, &norm_y));
    if (std::isfinite(dot)) return int64_t{0};
    std::vector<float> host(static_cast<size_t>(n));
    DITTO_RETURN_IF_ERROR(ops.download(host.data(), t.data<float>(), n));
    return cpu::count_non_finite(host.data(), DType::F32, n);
  }

  Result<StepResult> run() {
    DITTO_RETURN_IF_ERROR(validate());
    plan_sharing();
    rows = nb * B;
    result.signals.assign(static_cast<size_t>(nb), {});
    result.cache_hits.assign(static_cast<size_t>(nb), std::vector<uint8_t>(static_cast<size_t>(B), 0));
    for (int64_t b = 0; b < nb; ++b) {
      const BranchPlan& bp = req.branches[static_cast<size_t>(b)];
      result.signals[static_cast<size_t>(b)].assign(
          (bp.signals.size() + (bp.first_block_cache.enabled ? 1 : 0)) * static_cast<size_t>(B),
          std::numeric_limits<float>::quiet_NaN());
    }
    rest_cached.assign(static_cast<size_t>(rows), 0);
    block_input.assign(static_cast<size_t>(rows), {});
    probe_input.assign(static_cast<size_t>(rows), {});
    DITTO_ASSIGN_OR_RETURN(Tensor x_all, stacked_x());
    std::vector<float> t_all;
    for (int64_t b = 0; b < nb; ++b) t_all.insert(t_all.end(), req.t.begin(), req.t.end());
    Conditions cond_all;
    if (nb == 1) {
      cond_all = req.branches[0].conditions;
    } else {
      DITTO_ASSIGN_OR_RETURN(cond_all, stack_conditions(req.branches));
    }
    const IntermediateSink* capture = req.capture ? &req.capture : nullptr;
    DITTO_RETURN_IF_ERROR(k.prelude(x_all, t_all, cond_all, capture));
    row_size = k.hidden_row_size();
    macs = k.part_macs();
    executed += static_cast<uint64_t>(rows) * macs.prelude;
    result.macs_uncached = static_cast<uint64_t>(rows) * macs.total();
    for (int64_t i = 0; i < L; ++i) {
      if (req.abort && req.abort->load(std::memory_order_relaxed)) return aborted_error();
      DITTO_RETURN_IF_ERROR(before_block(i));
      DITTO_RETURN_IF_ERROR(run_block(i));
      DITTO_RETURN_IF_ERROR(after_block(i));
      if (capture) DITTO_RETURN_IF_ERROR(k.emit_block(i, rows, *capture));
    }
    // Branches forking at the very end (same plan as their parent throughout) take the parent's final state.
    for (int64_t c = 0; c < nb; ++c)
      if (fork[static_cast<size_t>(c)] == L && parent[static_cast<size_t>(c)] >= 0)
        DITTO_RETURN_IF_ERROR(ops.copy(row_ptr(c * B), row_ptr(parent[static_cast<size_t>(c)] * B), B * row_size));
    if (req.abort && req.abort->load(std::memory_order_relaxed)) return aborted_error();
    DITTO_ASSIGN_OR_RETURN(Tensor out, k.final(rows, capture));
    executed += static_cast<uint64_t>(rows) * macs.final;
    for (int64_t b = 0; b < nb; ++b) {
      if (nb == 1) {
        result.branch_outputs.push_back(out);
      } else {
        DITTO_ASSIGN_OR_RETURN(Tensor part, out.slice0(b * B, (b + 1) * B));
        result.branch_outputs.push_back(std::move(part));
      }
    }
    if (req.epilogue.enabled) DITTO_RETURN_IF_ERROR(epilogue());
    if (req.epilogue.enabled && req.count_non_finite) {
      DITTO_ASSIGN_OR_RETURN(result.next_non_finite, count_non_finite(result.next));
    }
    if (!req.return_branch_outputs) result.branch_outputs.clear();
    result.macs = executed;
    return std::move(result);
  }
};

Status BackendOps::upload(float* dst, const float* host, int64_t n) {
  if (n > 0) std::memcpy(dst, host, static_cast<size_t>(n) * sizeof(float));
  return Status::Ok();
}
Status BackendOps::download(float* host, const float* src, int64_t n) {
  if (n > 0) std::memcpy(host, src, static_cast<size_t>(n) * sizeof(float));
  return Status::Ok();
}

Result<StepResult> run_step(Denoiser& model, const StepRequest& request) {
  std::lock_guard<std::mutex> lock(model.kernels_mutex());
  StepRunner runner(model, nullptr, request);
  return runner.run();
}

Session::Session(std::shared_ptr<Denoiser> model) : model_(std::move(model)) {}
Session::~Session() { end(); }

void Session::end() {
  slots_.clear();
  bytes_ = 0;
  step_index_ = 0;
}

Result<StepResult> Session::step(const StepRequest& request) {
  Result<StepResult> result = [&]() -> Result<StepResult> {
    std::lock_guard<std::mutex> lock(model_->kernels_mutex());
    StepRunner runner(*model_, this, request);
    return runner.run();
  }();
  if (!result.ok()) {
    // Invalid requests change nothing; an abort or an engine failure ends the generation's state.
    if (result.status().code() != StatusCode::kInvalidArgument) end();
    return result;
  }
  ++step_index_;
  return result;
}

Result<Tensor> Denoiser::forward(const Tensor& x, const std::vector<float>& t, const Conditions& conditions,
                                 const ForwardOptions& options) {
  StepRequest request;
  request.x = x;
  request.t = t;
  BranchPlan branch;
  branch.conditions = conditions;
  if (!options.blocks.empty()) branch.actions.push_back(options.blocks);
  request.branches.push_back(std::move(branch));
  request.abort = options.abort;
  request.capture = options.capture;
  DITTO_ASSIGN_OR_RETURN(StepResult result, run_step(*this, request));
  if (options.capture) options.capture("out", result.branch_outputs[0]);
  return std::move(result.branch_outputs[0]);
}

Result<Tensor> Denoiser::forward_with_cfg(const Tensor& x, const std::vector<float>& t, const Conditions& conditions,
                                          float cfg_scale, int64_t guided_channels, const ForwardOptions& options) {
  if (!x.on_host()) return invalid_argument("forward_with_cfg takes x on the host but it is on " + x.device_name());
  if (x.ndim() != 4 || x.dim(0) < 2 || x.dim(0) % 2 != 0 || x.dtype() != DType::F32)
    return invalid_argument("forward_with_cfg expects an F32 batch of 2N samples [2N, C, H, W] but received " +
                            shape_string(x.shape()));
  if (!std::isfinite(cfg_scale)) return invalid_argument("Expected a finite cfg_scale");
  // Official: half = x[:N]; model(cat([half, half]), t, y); guidance on channels [:guided_channels].
  const int64_t N = x.dim(0) / 2;
  const size_t half_bytes = x.nbytes() / 2;
  DITTO_ASSIGN_OR_RETURN(Tensor combined, Tensor::empty(DType::F32, x.shape()));
  std::memcpy(combined.raw(), x.raw(), half_bytes);
  std::memcpy(static_cast<uint8_t*>(combined.raw()) + half_bytes, x.raw(), half_bytes);
  DITTO_ASSIGN_OR_RETURN(Tensor out, forward(combined, t, conditions, options));
  const int64_t C = out.dim(1), plane = out.dim(2) * out.dim(3);
  const int64_t guided = std::min<int64_t>(std::max<int64_t>(guided_channels, 0), C);
  float* o = out.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ch = 0; ch < guided; ++ch) {
      float* cond = o + (n * C + ch) * plane;
      float* uncond = o + ((n + N) * C + ch) * plane;
      for (int64_t i = 0; i < plane; ++i) {
        const float guided_value = uncond[i] + cfg_scale * (cond[i] - uncond[i]);
        cond[i] = guided_value;
        uncond[i] = guided_value;
      }
    }
  return out;
}

}  // namespace ditto

// Internals shared by the DiT files (and the CUDA DiT in native/src/cuda): layout detection, the
// layout-neutral weight skeleton, the weight plan every backend loads from, and the shared input checks.
// After loading, both checkpoint layouts (official facebookresearch/DiT and diffusers DiTTransformer2DModel)
// are the same structure, so the forward in dit.cpp has no layout branches except names and constants.
//
// Conditioning groups: official DiT computes one conditioning vector c per sample and every block's adaLN
// reads it; diffusers gives every block its own timestep+label embedder (real checkpoints hold identical
// copies, the golden case independent ones). Blocks whose embedder weights are byte-identical share a
// group; each group's adaLN Linears (and the final layer's, in group 0) are packed side by side into ONE
// Linear, so one GEMM per group and forward produces every modulation vector.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "ditto/cpu/gemm.h"
#include "ditto/dit.h"
#include "ditto/memory.h"
#include "ditto/model.h"
#include "ditto/safetensors.h"

namespace ditto::dit {

constexpr int64_t kTimestepFeatures = 256;  // DiT's frequency_embedding_size (both layouts)

struct PackedLinear {
  cpu::PackedWeight weight;  // [out, in]
  HostVector<float> bias;    // [out], counted engine memory (ditto/memory.h)
  int64_t out() const { return weight.n(); }
  int64_t in() const { return weight.k(); }
};

// The layout-neutral model, generic over how a backend holds a Linear and an f32 table, so the CPU weights
// (PackedLinear, host vectors), the CUDA weights (device allocations) and the loader's plan (LinearRef) share
// one skeleton.
template <class Linear, class Table>
struct ConditionGroupOf {  // Timestep MLP (Linear 256->D, SiLU, Linear D->D) + class table -> c = t_emb + y_emb
  Linear t_fc1, t_fc2;
  Table label_table;           // f32 [label_rows, D]
  Linear adaln;                // [cols, D]: 6D per member block (in block order), then 2D for the final layer
  std::vector<int> blocks;     // member blocks
  int first_block = 0;         // the block whose embedder names this group (diffusers capture names)
};

template <class Linear>
struct BlockOf {
  Linear qkv;   // [3D, D], rows q | k | v, heads contiguous inside each (timm / diffusers order)
  Linear proj;  // [D, D]
  Linear fc1;   // [mlp_hidden, D]
  Linear fc2;   // [D, mlp_hidden]
  int group = 0;
  int64_t adaln_col = 0;  // column of this block's (shift, scale, gate) x 2 in its group's adaLN output
};

template <class Linear, class Table>
struct DitParts {
  Linear patch_embed;  // [D, C*p*p] (Conv2d weight flattened)
  Table pos_table;     // f32 [T, D] for the config's grid
  std::vector<ConditionGroupOf<Linear, Table>> groups;
  std::vector<BlockOf<Linear>> blocks;
  Linear final_linear;          // [p*p*C_out, D]
  int final_group = 0;
  int64_t final_adaln_col = 0;  // (shift, scale) of the final layer
  int64_t label_rows = 0;       // valid labels are [0, label_rows)
  int64_t mlp_hidden = 0;
};

using ConditionGroup = ConditionGroupOf<PackedLinear, HostVector<float>>;
using BlockWeights = BlockOf<PackedLinear>;
using Weights = DitParts<PackedLinear, HostVector<float>>;

// ---- The weight plan: the checkpoint layout knowledge (name map, stacking, grouping, shape checks) ----------
// plan_weights() reads and shape-checks every tensor of either layout and describes the model above in f32 on
// the host. Each Linear (its checkpoint parts stacked row-wise into one [n, k] matrix, plus the bias) goes to
// the backend's LinearSink the moment it is complete, so the backend packs (CPU) or uploads (CUDA) it and the
// f32 copy dies at once: the host holds one Linear in f32 at a time, never the whole model. The plan refers to
// the i-th Linear handed to the sink as LinearRef{i}; materialize() then swaps the refs for the backend's own.
struct HostLinear {
  int64_t n = 0, k = 0;
  std::vector<float> weight;  // f32 [n, k], row-major
  std::vector<float> bias;    // f32 [n]
};
using LinearSink = std::function<Status(HostLinear&& linear)>;

struct LinearRef {
  int index = -1;  // call order of the sink
  int64_t n = 0, k = 0;
};
using WeightPlan = DitParts<LinearRef, std::vector<float>>;

// kModelLoad naming the tensor on a missing / misshapen one; the sink's first error otherwise.
Result<WeightPlan> plan_weights(const SafetensorsFile& file, const DitConfig& config, const LinearSink& sink);

// The backend's weights from a plan: each LinearRef becomes linears[ref.index] (moved out), each f32 table
// make_table(std::vector<float>&&) -> Result<Table> (keep the host vector, or upload it).
template <class Linear, class Table, class MakeTable>
Result<DitParts<Linear, Table>> materialize(WeightPlan&& plan, std::vector<Linear>& linears, MakeTable&& make_table) {
  auto take = [&](const LinearRef& ref) { return std::move(linears[static_cast<size_t>(ref.index)]); };
  DitParts<Linear, Table> w;
  w.patch_embed = take(plan.patch_embed);
  DITTO_ASSIGN_OR_RETURN(w.pos_table, make_table(std::move(plan.pos_table)));
  for (auto& pg : plan.groups) {
    ConditionGroupOf<Linear, Table> g;
    g.t_fc1 = take(pg.t_fc1);
    g.t_fc2 = take(pg.t_fc2);
    DITTO_ASSIGN_OR_RETURN(g.label_table, make_table(std::move(pg.label_table)));
    g.adaln = take(pg.adaln);
    g.blocks = std::move(pg.blocks);
    g.first_block = pg.first_block;
    w.groups.push_back(std::move(g));
  }
  for (const auto& pb : plan.blocks) {
    BlockOf<Linear> b;
    b.qkv = take(pb.qkv);
    b.proj = take(pb.proj);
    b.fc1 = take(pb.fc1);
    b.fc2 = take(pb.fc2);
    b.group = pb.group;
    b.adaln_col = pb.adaln_col;
    w.blocks.push_back(std::move(b));
  }
  w.final_linear = take(plan.final_linear);
  w.final_group = plan.final_group;
  w.final_adaln_col = plan.final_adaln_col;
  w.label_rows = plan.label_rows;
  w.mlp_hidden = plan.mlp_hidden;
  return w;
}

// Layout from tensor names; kUnsupportedModel when the checkpoint is neither DiT layout.
Result<DitLayout> detect_layout(const SafetensorsFile& weights, const std::string& class_hint);

// plan_weights() with every Linear packed for `dtype` (F32 / BF16).
Result<Weights> load_weights(const SafetensorsFile& file, const DitConfig& config, DType dtype);

// DitModel::forward's input checks (CudaDit's too, same messages): x F32 [B, C, input_size, input_size] (any
// H, W multiple of the patch for diffusers), one finite timestep and one label in [0, label_rows) per sample,
// block actions empty or one per block with finite scales.
Status validate_forward_inputs(const DitConfig& config, int64_t label_rows, const Tensor& x, const std::vector<float>& t,
                               const std::vector<int64_t>& y, const ForwardOptions& options);

// Tokens per side / total for the config.
inline int64_t grid_side(const DitConfig& c) { return c.input_size / c.patch_size; }
inline int64_t num_tokens(const DitConfig& c) { return grid_side(c) * grid_side(c); }

}  // namespace ditto::dit

// Internals shared by the DiT files: layout detection, the layout-neutral packed weights, and the loader.
// After loading, both checkpoint layouts (official facebookresearch/DiT and diffusers DiTTransformer2DModel)
// are the same structure, so the forward in dit.cpp has no layout branches except names and constants.
//
// Conditioning groups: official DiT computes one conditioning vector c per sample and every block's adaLN
// reads it; diffusers gives every block its own timestep+label embedder (real checkpoints hold identical
// copies, the golden case independent ones). Blocks whose embedder weights are byte-identical share a
// group; each group's adaLN Linears (and the final layer's, in group 0) are packed side by side into ONE
// PackedWeight, so one GEMM per group and forward produces every modulation vector.
#pragma once
#include <string>
#include <vector>

#include "ditto/cpu/gemm.h"
#include "ditto/dit.h"
#include "ditto/safetensors.h"

namespace ditto::dit {

constexpr int64_t kTimestepFeatures = 256;  // DiT's frequency_embedding_size (both layouts)

struct PackedLinear {
  cpu::PackedWeight weight;  // [out, in]
  std::vector<float> bias;   // [out]
  int64_t out() const { return weight.n(); }
  int64_t in() const { return weight.k(); }
};

// Timestep MLP (Linear 256->D, SiLU, Linear D->D) + class embedding table -> c = t_emb + y_emb.
struct ConditionGroup {
  PackedLinear t_fc1, t_fc2;
  std::vector<float> label_table;  // [label_rows, D]
  PackedLinear adaln;              // [cols, D]: 6D per member block (in block order), then 2D for the final layer
  std::vector<int> blocks;         // member blocks
  int first_block = 0;             // the block whose embedder names this group (diffusers capture names)
};

struct BlockWeights {
  PackedLinear qkv;   // [3D, D], rows q | k | v, heads contiguous inside each (timm / diffusers order)
  PackedLinear proj;  // [D, D]
  PackedLinear fc1;   // [mlp_hidden, D]
  PackedLinear fc2;   // [D, mlp_hidden]
  int group = 0;
  int64_t adaln_col = 0;  // column of this block's (shift, scale, gate) x 2 in its group's adaLN output
};

struct Weights {
  PackedLinear patch_embed;     // [D, C*p*p] (Conv2d weight flattened)
  std::vector<float> pos_table; // [T, D]
  std::vector<ConditionGroup> groups;
  std::vector<BlockWeights> blocks;
  PackedLinear final_linear;    // [p*p*C_out, D]
  int final_group = 0;
  int64_t final_adaln_col = 0;  // (shift, scale) of the final layer
  int64_t label_rows = 0;       // valid labels are [0, label_rows)
  int64_t mlp_hidden = 0;
};

// Layout from tensor names; kUnsupportedModel when the checkpoint is neither DiT layout.
Result<DitLayout> detect_layout(const SafetensorsFile& weights, const std::string& class_hint);

// Reads and shape-checks every tensor against the config; packs every Linear for `dtype` (F32 / BF16).
Result<Weights> load_weights(const SafetensorsFile& file, const DitConfig& config, DType dtype);

// Tokens per side / total for the config.
inline int64_t grid_side(const DitConfig& c) { return c.input_size / c.patch_size; }
inline int64_t num_tokens(const DitConfig& c) { return grid_side(c) * grid_side(c); }

}  // namespace ditto::dit

namespace ditto::dit {

// Where a model's files are: `path` is a folder (weights: model.safetensors, else dit.safetensors, else the
// only *.safetensors) or a .safetensors file; the config is config.json, else dit.json, beside the weights.
struct ModelFiles {
  std::string weights;
  std::string config;
};
Result<ModelFiles> resolve_model_files(const std::string& path);

}  // namespace ditto::dit

// The family-neutral model interface: what every denoiser family exposes to the executor, the binding and
// the TypeScript API. A Denoiser is config-as-data (family, layout, input / condition shapes, named fields)
// plus a Backbone: prelude -> one or more named block lists -> final, with MAC counts per part. The block
// loop that drives a backbone lives once, in the executor (ditto/executor.h, native/src/runtime/); a family
// only supplies the per-part kernels for its backend. Families are found by load_model() through a registry
// that asks each one whether it recognises the checkpoint's tensor names (docs/architecture.md).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ditto/status.h"
#include "ditto/tensor.h"

namespace ditto {

class BackboneKernels;
class BackendOps;
class Session;
class SafetensorsFile;

// What to do with one transformer block for one sample of one branch (docs/architecture.md, "Block plans").
//   Compute           h = block(h)
//   Skip              h unchanged
//   Scale             h = h + alpha * (block(h) - h)
//   PerturbAttention  block(h) with its self-attention output replaced by V (PAG / STG-A)
//   Reuse             h = h + R, R the residual stored for blocks [this, span_end) at an earlier step
//   Forecast          h = h + R', R' extrapolated to this step from the last two stored residuals of that span
//                     (first-order finite difference in the step index; one stored residual = Reuse)
// Reuse / Forecast cover blocks [this, span_end); the actions of blocks inside the span must be Skip.
// store_end > 0 keeps the residual h(store_end) - h(this) of this sample for later steps (any action inside).
enum class BlockActionKind : uint8_t { Compute, Skip, Scale, PerturbAttention, Reuse, Forecast };
struct BlockAction {
  BlockActionKind kind = BlockActionKind::Compute;
  float alpha = 1.f;      // Scale
  int32_t span_end = 0;   // Reuse / Forecast: end (exclusive) of the reused span
  int32_t store_end = 0;  // > 0: store the residual of blocks [this, store_end)
  bool operator==(const BlockAction&) const = default;
};

// Receives named intermediates (reference module paths, e.g. "blocks.0.out") when capture is on.
using IntermediateSink = std::function<void(std::string_view name, const Tensor& value)>;

struct ForwardOptions {
  std::vector<BlockAction> blocks;                  // empty = compute every block (Compute/Skip/Scale/PerturbAttention)
  const std::atomic<bool>* abort = nullptr;         // checked between blocks -> kAborted
  IntermediateSink capture;                         // null = no capture (zero cost)
};

// MAC counts of one forward of one sample at the config's input size, for the stats every run reports.
struct MacCount {
  uint64_t total = 0;
  uint64_t blocks = 0;  // the transformer blocks (incl. their adaLN projections, as the reference counts them)
};

// One input or condition the model takes: name, shape (-1 = any size: the batch, or a free spatial size), dtype.
struct TensorSpec {
  std::string name;
  Shape shape;
  DType dtype = DType::F32;
  bool optional = false;  // a condition the caller may leave out (e.g. an attention mask)
};

// A named scalar of the architecture (e.g. hiddenSize), in the API's camelCase spelling.
struct ConfigField {
  std::string name;
  std::variant<double, bool, std::string> value;
};

struct ModelInfo {
  std::string family;                   // "dit"
  std::string layout;                   // checkpoint key layout, e.g. "official" / "diffusers"
  std::vector<TensorSpec> inputs;       // e.g. x [-1, C, H, W] f32, t [-1] f32
  std::vector<TensorSpec> conditions;   // e.g. labels [-1] i64
  std::vector<TensorSpec> outputs;      // e.g. out [-1, C_out, H, W] f32
  std::vector<ConfigField> fields;      // the architecture as data
  std::string config_path, config_json; // where the architecture came from, and its kwargs re-serialised
};

// A list of blocks that run in sequence with the same kernel (DiT: one; Flux: double and single streams).
// Plans address blocks by their global index: list 0's blocks first, then list 1's, ...
struct BlockList {
  std::string name;    // module prefix of its blocks, e.g. "blocks" ("blocks.3")
  int64_t count = 0;
};

// MACs per sample of each part at the config's input size. prelude holds everything computed once per forward
// (embeddings and, for adaLN models, every block's modulation projection); block[i] is what skipping block i
// saves; total() == the reference's count of a whole forward.
struct PartMacs {
  uint64_t prelude = 0;
  std::vector<uint64_t> block;
  uint64_t final = 0;
  uint64_t total() const;
};

struct Backbone {
  std::vector<BlockList> lists;
  int64_t depth() const;  // all blocks of all lists
  PartMacs macs;
};

// Where and how to load a model.
struct LoadOptions {
  int threads = 0;            // 0 = machine default (CPU thread pool)
  DType dtype = DType::F32;   // compute dtype of the GEMMs: F32 (reference) or BF16
  std::string device = "cpu"; // "cpu" or "cuda:N" (a family registers one loader per backend it has)
  bool check_finite = true;   // reject a checkpoint with NaN/Inf in any floating-point tensor (cpu/finite.h)
};

// Conditions of one batch: class labels for label-conditioned families, tensors (e.g. text embeddings) for
// others; which ones a family reads is in ModelInfo::conditions. tensors[j] is the j-th entry of
// ModelInfo::conditions that is not "labels", in order, with the batch as dim 0; an absent optional condition is
// a default-constructed Tensor (ndim() == 0).
struct Conditions {
  std::vector<int64_t> labels;
  std::vector<Tensor> tensors;
};
// The tensor of the condition named `name` (nullptr when the family has no such condition or it was left out).
const Tensor* find_condition(const ModelInfo& info, const Conditions& conditions, std::string_view name);

// A loaded denoiser on one device. The forward and the sessions run through the executor; a family
// implements kernels() (its BackboneKernels for this backend) and the descriptive members.
class Denoiser {
 public:
  virtual ~Denoiser() = default;
  virtual const ModelInfo& info() const = 0;
  virtual const Backbone& backbone() const = 0;
  virtual std::string device() const = 0;  // the device actually used: "cpu", "cuda:0"
  virtual int threads() const = 0;         // host threads of the model's pool
  // Bytes the model holds (weights, tables, workspace) on its device; reported to V8 by the binding.
  virtual uint64_t memory_bytes() const = 0;
  // The per-part kernels the executor drives. Callers hold kernels_mutex() while they use them.
  virtual BackboneKernels& kernels() = 0;
  std::mutex& kernels_mutex() { return kernels_mutex_; }
  // A device model's op table for the tensors it returns (the binding's tensor arithmetic, uploads and downloads
  // on the JS thread): on the model's stream, with its own scratch, so it never touches the executor's. Null for
  // host models (their tensors are plain host memory).
  virtual std::shared_ptr<BackendOps> tensor_ops() { return nullptr; }

  // x [B, ...] with t [B] and conditions of B samples; blocks, abort and capture as in ForwardOptions.
  Result<Tensor> forward(const Tensor& x, const std::vector<float>& t, const Conditions& conditions,
                         const ForwardOptions& options = {});
  // Official DiT forward_with_cfg semantics for any family: batch 2N, x[:N] used twice, guidance uncond +
  // s * (cond - uncond) on the first `guided_channels` channels of both halves.
  Result<Tensor> forward_with_cfg(const Tensor& x, const std::vector<float>& t, const Conditions& conditions,
                                  float cfg_scale, int64_t guided_channels, const ForwardOptions& options = {});

 private:
  std::mutex kernels_mutex_;  // one forward / session step at a time: the kernels' workspace is shared
};

// ---- family registry ---------------------------------------------------------------------------------------
// A family recognises a checkpoint from its tensor names and loads it for a backend.
struct ModelFiles;
struct FamilyLoader {
  std::string family;   // "dit"
  std::string backend;  // "cpu", "cuda"
  // Ok when the tensor names are this family's (any of its layouts), else kUnsupportedModel saying why not
  std::function<Status(const SafetensorsFile& weights)> detect;
  std::function<Result<std::unique_ptr<Denoiser>>(std::shared_ptr<SafetensorsFile> weights, const ModelFiles& files,
                                                  const LoadOptions& options)>
      load;
};
// Adds a loader (the DiT CPU loader is built in; backends register theirs when they are linked in).
void register_family(FamilyLoader loader);

// Where a model's files are: `path` is a folder (weights: model.safetensors, else dit.safetensors, else the
// only *.safetensors) or a .safetensors file; the config is config.json, else dit.json, beside the weights, or
// empty when there is none (official single-file checkpoints): a family that needs one says so when it loads.
struct ModelFiles {
  std::string weights;
  std::string config;
};
Result<ModelFiles> resolve_model_files(const std::string& path);

// Opens `path`, finds the family whose detector accepts the tensor names and loads it on options.device.
// kUnsupportedModel when no family recognises the checkpoint; kCuda when the family has no loader for
// the requested device.
Result<std::unique_ptr<Denoiser>> load_model(const std::string& path, const LoadOptions& options);

}  // namespace ditto

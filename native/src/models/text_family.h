// Pieces shared by the text-conditioned families (PixArt-α/Σ in pixart.cpp, Wan2.1 in wan.cpp): reading a
// checkpoint's tensors with shape checks into packed Linears, the config's kwargs (golden case config.json,
// diffusers config.json or an official config.json), key-layout detection that names the tensors no layout
// explains (ERR_UNSUPPORTED_MODEL), a text-condition check, and the cross-attention K/V cache that computes the
// condition's keys and values once per generation (issue 20 item 4; exact: same inputs, same GEMMs, same bits).
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "ditto/cpu/gemm.h"
#include "ditto/json.h"
#include "ditto/model.h"
#include "ditto/safetensors.h"
#include "ditto/thread_pool.h"

namespace ditto::family {

struct Linear {
  cpu::PackedWeight weight;  // [out, in]
  std::vector<float> bias;   // [out] (empty: no bias)
  int64_t out() const { return weight.n(); }
  int64_t in() const { return weight.k(); }
  uint64_t bytes() const { return weight.bytes() + bias.size() * sizeof(float); }
};

// y[m, out] (row stride ldy) = x[m, in] (row stride lda) · Wᵀ + b, with the epilogue's activation / gate.
void apply(ThreadPool& pool, const Linear& l, const float* x, int64_t m, int64_t lda, float* y, int64_t ldy,
           cpu::Epilogue e = {});

// Drops the mmapped checkpoint pages of a tensor (or of all tensors) from this process's resident set once read,
// so loading peaks near the packed weights' size instead of packed + checkpoint (docs/benchmarks.md, Wan 1.3B).
void release_pages(const SafetensorsFile& file, const std::string& name);
void release_all_pages(const SafetensorsFile& file);

// Reads tensors of one checkpoint (each tensor's mapped pages released after it is read); every error is kModelLoad naming the tensor, the file and the layout.
class CheckpointReader {
 public:
  CheckpointReader(const SafetensorsFile& file, std::string layout_name, DType dtype)
      : file_(file), layout_(std::move(layout_name)), dtype_(dtype) {}
  Result<Shape> shape(const std::string& name) const;
  Result<std::vector<float>> floats(const std::string& name, const Shape& expected) const;
  // The [rows_i, k] weights `<prefix>.weight` of every prefix stacked row-wise (+ their biases) as one Linear.
  Result<Linear> linear(const std::vector<std::string>& prefixes, int64_t k, bool bias = true) const;
  // A Conv{2,3}d with stride == kernel as patchify + Linear: weight [D, ...] flattened to [D, prod(...)].
  Result<Linear> conv_as_linear(const std::string& prefix, const Shape& expected) const;
  uint64_t bytes_read = 0;

 private:
  const SafetensorsFile& file_;
  std::string layout_;
  DType dtype_;
};

// The model's kwargs: `full_config` / `constructor_kwargs` of a golden case, else the top-level object (diffusers
// and official config.json). A missing config file is allowed (every size then comes from the tensor shapes).
class ConfigKwargs {
 public:
  static Result<ConfigKwargs> read(const std::string& path);
  const std::string& path() const { return path_; }
  const JsonValue* find(const char* key) const;  // null for absent or JSON null
  Result<int64_t> positive_int(const char* key, int64_t fallback) const;
  Result<double> number(const char* key, double fallback) const;
  Result<std::string> string(const char* key, const std::string& fallback) const;
  std::string json() const;  // the kwargs re-serialised (ModelInfo::config_json)
  Status error(const std::string& what) const;

 private:
  std::vector<const JsonValue*> sources() const;
  std::string path_;
  JsonValue root_;
};

// One key layout of a family: the names (block index replaced by '#', e.g. "blocks.#.attn1.to_q.weight") every
// tensor must be one of, and the names that must exist.
struct KeyLayout {
  std::string name;                 // "diffusers", "official"
  std::string reference;            // "diffusers WanTransformer3DModel"
  std::set<std::string> known;
  std::vector<std::string> required;
};
// "blocks.12.attn1.to_q.weight" -> "blocks.#.attn1.to_q.weight" (the first numeric component after a block prefix).
std::string block_pattern(const std::string& name, const std::vector<std::string>& block_prefixes);
// The layout whose names explain every tensor; the layout named in `forced` (config "layout") when non-empty.
// kUnsupportedModel: no anchor tensor (not this family), or tensors no layout knows (named, up to 8).
Result<const KeyLayout*> detect_layout(const SafetensorsFile& file, const std::string& family_title,
                                       const std::vector<std::string>& anchors,
                                       const std::vector<KeyLayout>& layouts,
                                       const std::vector<std::string>& block_prefixes, const std::string& forced = "");
// Highest block index + 1 of "<prefix>.<i>." names.
int64_t count_blocks(const SafetensorsFile& file, const std::string& prefix);

// A [B, L, width] F32 text condition with B rows (user-facing kInvalidArgument naming it).
Status check_text_condition(const Tensor& t, const std::string& name, int64_t batch, int64_t width);

// The condition's cross-attention keys / values, one [rows, L, 2D] buffer per block (k | v), computed once
// and reused while the stacked condition tensors (bytes and shapes) stay the same: every step of a generation,
// and later calls with the same text. `fresh` tells the prelude whether it must (re)compute.
struct CrossKvCache {
  std::vector<std::vector<float>> key_values;  // [block] -> [rows * L * 2D]
  std::vector<std::vector<uint8_t>> signature;  // the condition tensors the buffers were computed from
  std::vector<Shape> shapes;
  // True when `conditions` differ from the cached ones (and records them); the caller then recomputes.
  bool update(const std::vector<const Tensor*>& conditions);
  void clear();
  uint64_t bytes() const;
};

}  // namespace ditto::family

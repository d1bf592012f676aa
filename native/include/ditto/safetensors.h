// safetensors reader: mmap the file, validate the whole header before any tensor is touched, hand out
// zero-copy Tensors over the mapping. Validation: 8-byte header length within a cap and within the file,
// well-formed JSON object, known dtypes, integer non-negative shapes, data_offsets in bounds, byte length ==
// numel × dtype size, and offsets that tile the data section exactly (no overlap, gap or trailing bytes).
// Only regular files are read. Every error names the file and the tensor.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ditto/status.h"
#include "ditto/tensor.h"

namespace ditto {

struct SafetensorsEntry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte offsets relative to the data section
};

class SafetensorsFile {
 public:
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // 100 MiB, as the reference implementation

  static Result<std::shared_ptr<SafetensorsFile>> open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const;
  const SafetensorsEntry* find(const std::string& name) const;
  // Zero-copy view over the mapping (keeps the file mapped while alive). kModelLoad if missing.
  Result<Tensor> get(const std::string& name) const;
  // f32 copy of a F32/BF16/F16 tensor, with an expected shape check (empty = any).
  Result<Tensor> get_f32(const std::string& name, const Shape& expected = {}) const;

  ~SafetensorsFile();

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  uint64_t data_offset_ = 0;
  std::shared_ptr<const void> keepalive_;  // aliasing owner handed to borrowed tensors
  friend struct SafetensorsFileAccess;
};

// Writer used by tests and tools: tensors sorted by name, header padded to a multiple of 8.
Status write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata = {});

}  // namespace ditto

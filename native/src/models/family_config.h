// Reading a family's constructor kwargs from config.json beside the weights: a golden case's config
// (`constructor_kwargs`, extras in `full_config`) or a plain diffusers config.json (kwargs at the top level).
// Families take every size they can from the tensor shapes and only what the shapes cannot say from here; with no
// config (an empty path: official single-file checkpoints) every kwarg takes its default.
#pragma once
#include <string>
#include <vector>

#include "ditto/json.h"
#include "ditto/status.h"

namespace ditto {

class FamilyKwargs {
 public:
  static Result<FamilyKwargs> read(const std::string& path);
  const std::string& path() const { return path_; }
  const JsonValue* find(const char* key) const;  // null when absent or JSON null
  std::string config_json() const;               // the kwargs re-serialised
  Result<int64_t> positive_int(const char* key, int64_t fallback) const;
  Result<std::vector<int64_t>> int_list(const char* key, std::vector<int64_t> fallback) const;
  Result<std::string> string(const char* key, std::string fallback) const;
  Status error(const std::string& what) const;

 private:
  std::string path_;
  JsonValue root_;
};

}  // namespace ditto

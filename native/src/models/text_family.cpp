// Shared pieces of the text-conditioned families (see text_family.h).
#include "models/text_family.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include <sys/mman.h>
#include <unistd.h>

namespace ditto::family {
namespace {
std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }
}  // namespace

void apply(ThreadPool& pool, const Linear& l, const float* x, int64_t m, int64_t lda, float* y, int64_t ldy,
           cpu::Epilogue e) {
  e.bias = l.bias.empty() ? nullptr : l.bias.data();
  cpu::linear(pool, x, m, lda, l.weight, y, ldy, e);
}

Result<Shape> CheckpointReader::shape(const std::string& name) const {
  const SafetensorsEntry* e = file_.find(name);
  if (!e)
    return model_load_error("Tensor " + in_quotes(name) + " is missing from " + in_quotes(file_.path()) + " (" +
                            layout_ + " layout)");
  return e->shape;
}

void release_pages(const SafetensorsFile& file, const std::string& name) {
  auto view = file.get(name);
  if (!view.ok() || view.value().nbytes() == 0) return;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(view.value().raw()) & ~(page - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(view.value().raw()) + view.value().nbytes();
  // Read-only file pages: dropping them only costs a re-fault from the page cache if they are read again.
  (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

void release_all_pages(const SafetensorsFile& file) {
  for (const SafetensorsEntry& e : file.entries()) release_pages(file, e.name);
}

Result<std::vector<float>> CheckpointReader::floats(const std::string& name, const Shape& expected) const {
  DITTO_ASSIGN_OR_RETURN(Shape s, shape(name));
  if (!expected.empty() && s != expected)
    return model_load_error("Tensor " + in_quotes(name) + " in " + in_quotes(file_.path()) + " has shape " +
                            shape_string(s) + " but " + shape_string(expected) + " was expected (" + layout_ +
                            " layout)");
  DITTO_ASSIGN_OR_RETURN(Tensor t, file_.get_f32(name));
  release_pages(file_, name);
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

Result<Linear> CheckpointReader::linear(const std::vector<std::string>& prefixes, int64_t k, bool bias) const {
  std::vector<float> weight, b;
  int64_t n = 0;
  for (const std::string& prefix : prefixes) {
    DITTO_ASSIGN_OR_RETURN(Shape s, shape(prefix + ".weight"));
    if (s.size() != 2 || s[1] != k)
      return model_load_error("Tensor " + in_quotes(prefix + ".weight") + " in " + in_quotes(file_.path()) +
                              " has shape " + shape_string(s) + " but [N, " + std::to_string(k) +
                              "] was expected (" + layout_ + " layout)");
    DITTO_ASSIGN_OR_RETURN(std::vector<float> w, floats(prefix + ".weight", s));
    weight.insert(weight.end(), w.begin(), w.end());
    if (bias) {
      DITTO_ASSIGN_OR_RETURN(std::vector<float> bb, floats(prefix + ".bias", {s[0]}));
      b.insert(b.end(), bb.begin(), bb.end());
    }
    n += s[0];
  }
  Linear l;
  DITTO_ASSIGN_OR_RETURN(l.weight, cpu::PackedWeight::pack(weight.data(), n, k, dtype_));
  l.bias = std::move(b);
  return l;
}

Result<Linear> CheckpointReader::conv_as_linear(const std::string& prefix, const Shape& expected) const {
  DITTO_ASSIGN_OR_RETURN(std::vector<float> w, floats(prefix + ".weight", expected));
  const int64_t n = expected[0], k = shape_numel(expected) / expected[0];
  Linear l;
  DITTO_ASSIGN_OR_RETURN(l.weight, cpu::PackedWeight::pack(w.data(), n, k, dtype_));
  DITTO_ASSIGN_OR_RETURN(l.bias, floats(prefix + ".bias", {n}));
  return l;
}

// ---- config ------------------------------------------------------------------------------------------------
Result<ConfigKwargs> ConfigKwargs::read(const std::string& path) {
  ConfigKwargs c;
  c.path_ = path;
  c.root_ = JsonValue::object();
  if (!path.empty()) {
    DITTO_ASSIGN_OR_RETURN(c.root_, read_json_file(path));
    if (!c.root_.is_object()) return c.error("expected a JSON object");
  }
  return c;
}

// Golden case kwargs first, then the top level (diffusers / official config.json).
std::vector<const JsonValue*> ConfigKwargs::sources() const {
  std::vector<const JsonValue*> out;
  for (const char* key : {"full_config", "constructor_kwargs"})
    if (const JsonValue* v = root_.find(key); v && v->is_object()) out.push_back(v);
  out.push_back(&root_);
  return out;
}

const JsonValue* ConfigKwargs::find(const char* key) const {
  for (const JsonValue* s : sources())
    if (const JsonValue* v = s->find(key); v && !v->is_null()) return v;
  return nullptr;
}

Result<int64_t> ConfigKwargs::positive_int(const char* key, int64_t fallback) const {
  const JsonValue* v = find(key);
  if (!v) return fallback;
  if (!v->is_integer() || v->as_int() <= 0 || v->as_int() > (int64_t{1} << 24))
    return error(in_quotes(key) + " must be a positive integer, got " + to_json(*v));
  return v->as_int();
}

Result<double> ConfigKwargs::number(const char* key, double fallback) const {
  const JsonValue* v = find(key);
  if (!v) return fallback;
  if (!v->is_number()) return error(in_quotes(key) + " must be a number, got " + to_json(*v));
  return v->as_double();
}

Result<std::string> ConfigKwargs::string(const char* key, const std::string& fallback) const {
  const JsonValue* v = find(key);
  if (!v) return fallback;
  if (!v->is_string()) return error(in_quotes(key) + " must be a string, got " + to_json(*v));
  return v->as_string();
}

std::string ConfigKwargs::json() const { return to_json(*sources().front()); }

Status ConfigKwargs::error(const std::string& what) const {
  return model_load_error("Invalid model config " + in_quotes(path_) + ": " + what);
}

// ---- layouts -----------------------------------------------------------------------------------------------
std::string block_pattern(const std::string& name, const std::vector<std::string>& block_prefixes) {
  for (const std::string& p : block_prefixes) {
    if (name.size() <= p.size() + 1 || name.compare(0, p.size(), p) != 0 || name[p.size()] != '.') continue;
    size_t i = p.size() + 1, j = i;
    while (j < name.size() && std::isdigit(static_cast<unsigned char>(name[j]))) ++j;
    if (j > i && j < name.size() && name[j] == '.') return p + ".#" + name.substr(j);
  }
  return name;
}

Result<const KeyLayout*> detect_layout(const SafetensorsFile& file, const std::string& family_title,
                                       const std::vector<std::string>& anchors, const std::vector<KeyLayout>& layouts,
                                       const std::vector<std::string>& block_prefixes, const std::string& forced) {
  if (!forced.empty()) {
    for (const KeyLayout& l : layouts)
      if (l.name == forced) return &l;
    std::string names;
    for (const KeyLayout& l : layouts) names += (names.empty() ? "" : ", ") + in_quotes(l.name);
    return unsupported_model("Unsupported " + family_title + " layout " + in_quotes(forced) + " (known: " + names +
                             ")");
  }
  bool anchored = false;
  for (const std::string& a : anchors) anchored = anchored || file.has(a);
  if (!anchored) {
    std::string what;
    for (const std::string& a : anchors) what += (what.empty() ? "" : " or ") + in_quotes(a);
    return unsupported_model("Unsupported model: " + in_quotes(file.path()) + " is not a " + family_title +
                             " checkpoint (it has no " + what + ")");
  }
  const KeyLayout* best = nullptr;
  std::vector<std::string> best_unmatched;
  for (const KeyLayout& l : layouts) {
    std::vector<std::string> unmatched;
    for (const SafetensorsEntry& e : file.entries())
      if (!l.known.count(block_pattern(e.name, block_prefixes))) unmatched.push_back(e.name);
    for (const std::string& r : l.required)
      if (!file.has(r)) unmatched.push_back(r + " (missing)");
    if (unmatched.empty()) return &l;
    if (!best || unmatched.size() < best_unmatched.size()) {
      best = &l;
      best_unmatched = std::move(unmatched);
    }
  }
  std::string list;
  for (size_t i = 0; i < best_unmatched.size() && i < 8; ++i) list += (i ? ", " : "") + in_quotes(best_unmatched[i]);
  if (best_unmatched.size() > 8) list += " and " + std::to_string(best_unmatched.size() - 8) + " more";
  std::string names;
  for (const KeyLayout& l : layouts) names += (names.empty() ? "" : " nor the ") + l.reference;
  return unsupported_model("Unsupported " + family_title + " key layout in " + in_quotes(file.path()) +
                           ": tensors that match neither the " + names + " names: " + list);
}

int64_t count_blocks(const SafetensorsFile& file, const std::string& prefix) {
  int64_t n = 0;
  for (const SafetensorsEntry& e : file.entries()) {
    if (e.name.size() <= prefix.size() + 1 || e.name.compare(0, prefix.size(), prefix) != 0 ||
        e.name[prefix.size()] != '.')
      continue;
    size_t j = prefix.size() + 1;
    int64_t v = 0;
    bool digits = false;
    while (j < e.name.size() && std::isdigit(static_cast<unsigned char>(e.name[j])) && v < (int64_t{1} << 20)) {
      v = v * 10 + (e.name[j++] - '0');
      digits = true;
    }
    if (digits && j < e.name.size() && e.name[j] == '.') n = std::max(n, v + 1);
  }
  return n;
}

Status check_text_condition(const Tensor& t, const std::string& name, int64_t batch, int64_t width) {
  if (t.ndim() == 0) return invalid_argument("Expected the condition " + name + " but it is missing");
  if (t.dtype() != DType::F32 || t.ndim() != 3 || t.dim(0) != batch || t.dim(1) < 1 || t.dim(2) != width)
    return invalid_argument("Expected " + name + " of shape [" + std::to_string(batch) + ", L, " +
                            std::to_string(width) + "] (F32, L >= 1) but received " + shape_string(t.shape()) + " " +
                            dtype_name(t.dtype()));
  return Status::Ok();
}

// ---- K/V cache ---------------------------------------------------------------------------------------------
bool CrossKvCache::update(const std::vector<const Tensor*>& conditions) {
  bool same = signature.size() == conditions.size();
  for (size_t i = 0; same && i < conditions.size(); ++i) {
    const Tensor& t = *conditions[i];
    same = shapes[i] == t.shape() && signature[i].size() == t.nbytes() &&
           (t.nbytes() == 0 || std::memcmp(signature[i].data(), t.raw(), t.nbytes()) == 0);
  }
  if (same) return false;
  signature.assign(conditions.size(), {});
  shapes.assign(conditions.size(), {});
  for (size_t i = 0; i < conditions.size(); ++i) {
    const Tensor& t = *conditions[i];
    shapes[i] = t.shape();
    const uint8_t* p = static_cast<const uint8_t*>(t.raw());
    if (t.nbytes()) signature[i].assign(p, p + t.nbytes());
  }
  return true;
}

void CrossKvCache::clear() {
  key_values.clear();
  signature.clear();
  shapes.clear();
}

uint64_t CrossKvCache::bytes() const {
  uint64_t b = 0;
  for (const auto& v : key_values) b += v.size() * sizeof(float);
  for (const auto& s : signature) b += s.size();
  return b;
}

}  // namespace ditto::family

// FamilyKwargs (see family_config.h).
#include "models/family_config.h"

namespace ditto {

Result<FamilyKwargs> FamilyKwargs::read(const std::string& path) {
  FamilyKwargs k;
  k.path_ = path;
  if (path.empty()) {  // no config beside the weights: every kwarg takes its default
    k.root_ = JsonValue::object();
    return k;
  }
  DITTO_ASSIGN_OR_RETURN(k.root_, read_json_file(path));
  if (!k.root_.is_object()) return k.error("not a JSON object");
  return k;
}

const JsonValue* FamilyKwargs::find(const char* key) const {
  for (const char* section : {"constructor_kwargs", "full_config"}) {
    if (const JsonValue* s = root_.find(section); s && s->is_object())
      if (const JsonValue* v = s->find(key); v && !v->is_null()) return v;
  }
  const JsonValue* v = root_.find(key);
  return v && !v->is_null() ? v : nullptr;
}

std::string FamilyKwargs::config_json() const {
  const JsonValue* kwargs = root_.find("constructor_kwargs");
  return to_json(kwargs && kwargs->is_object() ? *kwargs : root_);
}

Status FamilyKwargs::error(const std::string& what) const {
  if (path_.empty()) return model_load_error("No config.json beside the weights, and " + what);
  return model_load_error("Invalid model config \"" + path_ + "\": " + what);
}

Result<int64_t> FamilyKwargs::positive_int(const char* key, int64_t fallback) const {
  const JsonValue* v = find(key);
  if (!v) return fallback;
  if (!v->is_integer() || v->as_int() <= 0 || v->as_int() > (int64_t{1} << 20))
    return error(std::string("\"") + key + "\" must be a positive integer up to 1048576, got " + to_json(*v));
  return v->as_int();
}

Result<std::vector<int64_t>> FamilyKwargs::int_list(const char* key, std::vector<int64_t> fallback) const {
  const JsonValue* v = find(key);
  if (!v) return fallback;
  if (!v->is_array()) return error(std::string("\"") + key + "\" must be a list of integers, got " + to_json(*v));
  std::vector<int64_t> out;
  for (const JsonValue& item : v->items()) {
    if (!item.is_integer() || item.as_int() < 0 || item.as_int() > (int64_t{1} << 20))
      return error(std::string("\"") + key + "\" must be a list of non-negative integers, got " + to_json(*v));
    out.push_back(item.as_int());
  }
  return out;
}

Result<std::string> FamilyKwargs::string(const char* key, std::string fallback) const {
  const JsonValue* v = find(key);
  if (!v) return fallback;
  if (!v->is_string()) return error(std::string("\"") + key + "\" must be a string, got " + to_json(*v));
  return v->as_string();
}

}  // namespace ditto

// A small strict JSON (RFC 8259) parser and serialiser for safetensors headers and model configs.
// Objects keep their key order (a config re-serialises as written), duplicate keys are an error (a
// safetensors header with two entries of one name must not silently pick one), numbers remember whether
// they were written as integers (shapes and offsets must be exact int64, never rounded through double),
// nesting is capped, and every parse error names the byte offset where it happened.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ditto/status.h"

namespace ditto {

class JsonValue {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };
  using Member = std::pair<std::string, JsonValue>;

  JsonValue() = default;  // null
  static JsonValue boolean(bool b);
  static JsonValue number(double d);
  static JsonValue integer(int64_t i);
  static JsonValue string(std::string s);
  static JsonValue array(std::vector<JsonValue> items = {});
  static JsonValue object(std::vector<Member> members = {});

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_number() const { return kind_ == Kind::Number; }
  // A number written without fraction or exponent that fits in int64 (or built with integer()).
  bool is_integer() const { return kind_ == Kind::Number && is_integer_; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_array() const { return kind_ == Kind::Array; }
  bool is_object() const { return kind_ == Kind::Object; }

  bool as_bool() const { return bool_; }
  double as_double() const { return double_; }
  int64_t as_int() const { return int_; }  // exact for is_integer(); otherwise the truncated double
  const std::string& as_string() const { return string_; }
  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<Member>& members() const { return members_; }
  std::vector<JsonValue>& items() { return items_; }
  std::vector<Member>& members() { return members_; }

  // Object member lookup (linear: objects here are small); nullptr if absent or not an object.
  const JsonValue* find(std::string_view key) const;
  // Replaces an existing member or appends a new one (objects only).
  void set(std::string key, JsonValue value);

  static const char* kind_name(Kind kind);  // "null", "boolean", "number", ...

 private:
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  bool is_integer_ = false;
  double double_ = 0;
  int64_t int_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<Member> members_;
};

struct JsonParseOptions {
  int max_depth = 64;  // nesting of arrays/objects; deeper input is an error, not a stack overflow
};

// Parses exactly one JSON value (surrounding whitespace allowed). Errors are kInvalidArgument with
// "JSON parse error at byte N: <what>"; callers that read files re-wrap them as kModelLoad.
Result<JsonValue> parse_json(std::string_view text, const JsonParseOptions& options = {});

// Reads and parses a file; errors (unreadable, malformed) are kModelLoad naming the path.
Result<JsonValue> read_json_file(const std::string& path, const JsonParseOptions& options = {});

// Serialises compactly (indent < 0) or pretty-printed with `indent` spaces. Doubles use the shortest
// representation that round-trips; non-finite doubles become null (JSON has no NaN/Infinity).
std::string to_json(const JsonValue& value, int indent = -1);

}  // namespace ditto

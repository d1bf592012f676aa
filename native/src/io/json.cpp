// Strict JSON parser / serialiser (RFC 8259) — see ditto/json.h for the contract.
// Recursive descent with an explicit depth cap; numbers parsed with std::from_chars (locale independent,
// correctly rounded); strings validated as UTF-8 and \u escapes (with surrogate pairs) decoded to UTF-8.
#include "ditto/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace ditto {

JsonValue JsonValue::boolean(bool b) {
  JsonValue v;
  v.kind_ = Kind::Bool;
  v.bool_ = b;
  return v;
}
JsonValue JsonValue::number(double d) {
  JsonValue v;
  v.kind_ = Kind::Number;
  v.double_ = d;
  v.int_ = (std::isfinite(d) && std::fabs(d) < 9.2e18) ? static_cast<int64_t>(d) : 0;
  return v;
}
JsonValue JsonValue::integer(int64_t i) {
  JsonValue v;
  v.kind_ = Kind::Number;
  v.is_integer_ = true;
  v.int_ = i;
  v.double_ = static_cast<double>(i);
  return v;
}
JsonValue JsonValue::string(std::string s) {
  JsonValue v;
  v.kind_ = Kind::String;
  v.string_ = std::move(s);
  return v;
}
JsonValue JsonValue::array(std::vector<JsonValue> items) {
  JsonValue v;
  v.kind_ = Kind::Array;
  v.items_ = std::move(items);
  return v;
}
JsonValue JsonValue::object(std::vector<Member> members) {
  JsonValue v;
  v.kind_ = Kind::Object;
  v.members_ = std::move(members);
  return v;
}

const JsonValue* JsonValue::find(std::string_view key) const {
  if (kind_ != Kind::Object) return nullptr;
  for (const auto& m : members_)
    if (m.first == key) return &m.second;
  return nullptr;
}

void JsonValue::set(std::string key, JsonValue value) {
  if (kind_ != Kind::Object) return;
  for (auto& m : members_)
    if (m.first == key) {
      m.second = std::move(value);
      return;
    }
  members_.emplace_back(std::move(key), std::move(value));
}

const char* JsonValue::kind_name(Kind kind) {
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Bool: return "boolean";
    case Kind::Number: return "number";
    case Kind::String: return "string";
    case Kind::Array: return "array";
    case Kind::Object: return "object";
  }
  return "?";
}

namespace {

class Parser {
 public:
  Parser(std::string_view text, const JsonParseOptions& options) : s_(text), options_(options) {}

  Result<JsonValue> parse_document() {
    skip_ws();
    JsonValue v;
    DITTO_RETURN_IF_ERROR(parse_value(&v, 0));
    skip_ws();
    if (pos_ != s_.size()) return error("unexpected trailing characters");
    return v;
  }

 private:
  Status error(const std::string& what) const {
    return invalid_argument("JSON parse error at byte " + std::to_string(pos_) + ": " + what);
  }

  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  bool consume_literal(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) == lit) {
      pos_ += lit.size();
      return true;
    }
    return false;
  }

  Status parse_value(JsonValue* out, int depth) {
    if (pos_ >= s_.size()) return error("unexpected end of input, expected a value");
    char c = s_[pos_];
    if (c == '{') return parse_object(out, depth + 1);
    if (c == '[') return parse_array(out, depth + 1);
    if (c == '"') {
      std::string str;
      DITTO_RETURN_IF_ERROR(parse_string(&str));
      *out = JsonValue::string(std::move(str));
      return Status::Ok();
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(out);
    if (consume_literal("true")) {
      *out = JsonValue::boolean(true);
      return Status::Ok();
    }
    if (consume_literal("false")) {
      *out = JsonValue::boolean(false);
      return Status::Ok();
    }
    if (consume_literal("null")) {
      *out = JsonValue();
      return Status::Ok();
    }
    return error(std::string("unexpected character '") + (c >= 32 && c < 127 ? std::string(1, c) : "?") + "'");
  }

  Status parse_object(JsonValue* out, int depth) {
    if (depth > options_.max_depth) return error("nesting deeper than " + std::to_string(options_.max_depth));
    ++pos_;  // '{'
    std::vector<JsonValue::Member> members;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      *out = JsonValue::object(std::move(members));
      return Status::Ok();
    }
    while (true) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') return error("expected a string key");
      size_t key_pos = pos_;
      std::string key;
      DITTO_RETURN_IF_ERROR(parse_string(&key));
      for (const auto& m : members)
        if (m.first == key) {
          pos_ = key_pos;
          return error("duplicate key \"" + key + "\"");
        }
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return error("expected ':' after an object key");
      ++pos_;
      skip_ws();
      JsonValue value;
      DITTO_RETURN_IF_ERROR(parse_value(&value, depth));
      members.emplace_back(std::move(key), std::move(value));
      skip_ws();
      if (pos_ >= s_.size()) return error("unexpected end of input in an object");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '}') {
        ++pos_;
        break;
      }
      return error("expected ',' or '}' in an object");
    }
    *out = JsonValue::object(std::move(members));
    return Status::Ok();
  }

  Status parse_array(JsonValue* out, int depth) {
    if (depth > options_.max_depth) return error("nesting deeper than " + std::to_string(options_.max_depth));
    ++pos_;  // '['
    std::vector<JsonValue> items;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      *out = JsonValue::array(std::move(items));
      return Status::Ok();
    }
    while (true) {
      skip_ws();
      JsonValue value;
      DITTO_RETURN_IF_ERROR(parse_value(&value, depth));
      items.push_back(std::move(value));
      skip_ws();
      if (pos_ >= s_.size()) return error("unexpected end of input in an array");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == ']') {
        ++pos_;
        break;
      }
      return error("expected ',' or ']' in an array");
    }
    *out = JsonValue::array(std::move(items));
    return Status::Ok();
  }

  static void append_utf8(std::string* s, uint32_t cp) {
    if (cp < 0x80) {
      s->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  Status parse_hex4(uint32_t* out) {
    if (pos_ + 4 > s_.size()) return error("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_ + i];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else return error("bad hex digit in \\u escape");
    }
    pos_ += 4;
    *out = v;
    return Status::Ok();
  }

  // Length of a valid UTF-8 sequence starting at pos_, or 0 when invalid (overlong, surrogate, > U+10FFFF).
  size_t utf8_sequence_length() const {
    auto byte = [&](size_t i) { return static_cast<uint8_t>(s_[pos_ + i]); };
    uint8_t b0 = byte(0);
    size_t need;
    uint32_t cp;
    if (b0 >= 0xC2 && b0 <= 0xDF) need = 1, cp = b0 & 0x1F;
    else if (b0 >= 0xE0 && b0 <= 0xEF) need = 2, cp = b0 & 0x0F;
    else if (b0 >= 0xF0 && b0 <= 0xF4) need = 3, cp = b0 & 0x07;
    else return 0;
    if (pos_ + need >= s_.size()) return 0;  // the sequence runs past the end
    for (size_t i = 1; i <= need; ++i) {
      if ((byte(i) & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (byte(i) & 0x3F);
    }
    if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
      return 0;
    return need + 1;
  }

  Status parse_string(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= s_.size()) return error("unterminated string");
      uint8_t c = static_cast<uint8_t>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return Status::Ok();
      }
      if (c < 0x20) return error("unescaped control character in a string");
      if (c == '\\') {
        ++pos_;
        if (pos_ >= s_.size()) return error("unterminated escape");
        char e = s_[pos_++];
        switch (e) {
          case '"': out->push_back('"'); break;
          case '\\': out->push_back('\\'); break;
          case '/': out->push_back('/'); break;
          case 'b': out->push_back('\b'); break;
          case 'f': out->push_back('\f'); break;
          case 'n': out->push_back('\n'); break;
          case 'r': out->push_back('\r'); break;
          case 't': out->push_back('\t'); break;
          case 'u': {
            uint32_t cp = 0;
            DITTO_RETURN_IF_ERROR(parse_hex4(&cp));
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (!consume_literal("\\u")) return error("unpaired high surrogate in \\u escape");
              uint32_t lo = 0;
              DITTO_RETURN_IF_ERROR(parse_hex4(&lo));
              if (lo < 0xDC00 || lo > 0xDFFF) return error("invalid low surrogate in \\u escape");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              return error("unpaired low surrogate in \\u escape");
            }
            append_utf8(out, cp);
            break;
          }
          default: --pos_; return error("invalid escape character");
        }
        continue;
      }
      if (c < 0x80) {
        out->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      size_t len = utf8_sequence_length();
      if (len == 0) return error("invalid UTF-8 in a string");
      out->append(s_.substr(pos_, len));
      pos_ += len;
    }
  }

  Status parse_number(JsonValue* out) {
    size_t start = pos_;
    bool integral = true;
    if (s_[pos_] == '-') ++pos_;
    if (pos_ >= s_.size()) return error("truncated number");
    if (s_[pos_] == '0') {
      ++pos_;
    } else if (s_[pos_] >= '1' && s_[pos_] <= '9') {
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    } else {
      return error("invalid number");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (pos_ >= s_.size() || !(s_[pos_] >= '0' && s_[pos_] <= '9')) return error("digit expected after '.'");
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (pos_ >= s_.size() || !(s_[pos_] >= '0' && s_[pos_] <= '9')) return error("digit expected in exponent");
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    if (integral) {
      int64_t i = 0;
      auto r = std::from_chars(first, last, i);
      if (r.ec == std::errc() && r.ptr == last) {
        *out = JsonValue::integer(i);
        return Status::Ok();
      }
      // Too large for int64: keep it as a double (not integral for our purposes).
    }
    double d = 0;
    auto r = std::from_chars(first, last, d);
    if (r.ptr != last) {
      pos_ = start;
      return error("invalid number");
    }
    if (r.ec == std::errc::result_out_of_range || !std::isfinite(d)) {
      pos_ = start;
      return error("number out of range");
    }
    *out = JsonValue::number(d);
    return Status::Ok();
  }

  std::string_view s_;
  JsonParseOptions options_;
  size_t pos_ = 0;
};

void write_string(std::string* out, const std::string& s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\b': *out += "\\b"; break;
      case '\f': *out += "\\f"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void write_value(std::string* out, const JsonValue& v, int indent, int level) {
  auto newline = [&](int lvl) {
    if (indent < 0) return;
    out->push_back('\n');
    out->append(static_cast<size_t>(indent * lvl), ' ');
  };
  switch (v.kind()) {
    case JsonValue::Kind::Null: *out += "null"; break;
    case JsonValue::Kind::Bool: *out += v.as_bool() ? "true" : "false"; break;
    case JsonValue::Kind::Number: {
      char buf[40];
      if (v.is_integer()) {
        auto r = std::to_chars(buf, buf + sizeof buf, v.as_int());
        out->append(buf, r.ptr);
      } else if (!std::isfinite(v.as_double())) {
        *out += "null";
      } else {
        auto r = std::to_chars(buf, buf + sizeof buf, v.as_double());
        out->append(buf, r.ptr);
      }
      break;
    }
    case JsonValue::Kind::String: write_string(out, v.as_string()); break;
    case JsonValue::Kind::Array: {
      out->push_back('[');
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i) out->push_back(',');
        newline(level + 1);
        write_value(out, v.items()[i], indent, level + 1);
      }
      if (!v.items().empty()) newline(level);
      out->push_back(']');
      break;
    }
    case JsonValue::Kind::Object: {
      out->push_back('{');
      for (size_t i = 0; i < v.members().size(); ++i) {
        if (i) out->push_back(',');
        newline(level + 1);
        write_string(out, v.members()[i].first);
        out->push_back(':');
        if (indent >= 0) out->push_back(' ');
        write_value(out, v.members()[i].second, indent, level + 1);
      }
      if (!v.members().empty()) newline(level);
      out->push_back('}');
      break;
    }
  }
}

}  // namespace

Result<JsonValue> parse_json(std::string_view text, const JsonParseOptions& options) {
  return Parser(text, options).parse_document();
}

Result<JsonValue> read_json_file(const std::string& path, const JsonParseOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return model_load_error("Cannot read JSON file \"" + path + "\"");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return model_load_error("Cannot read JSON file \"" + path + "\"");
  auto parsed = parse_json(buf.str(), options);
  if (!parsed.ok()) return model_load_error("Invalid JSON file \"" + path + "\": " + parsed.status().message());
  return std::move(parsed).value();
}

std::string to_json(const JsonValue& value, int indent) {
  std::string out;
  write_value(&out, value, indent, 0);
  return out;
}

}  // namespace ditto

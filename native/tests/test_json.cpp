// Tests for the strict JSON parser/serialiser (ditto/json.h): values, key order, integers vs doubles,
// escapes and UTF-8, every class of malformed input with its byte offset, depth cap, round trips.
#include "ditto/json.h"

#include <string>

#include "check.h"

using namespace ditto;

static bool fails_at(const char* text, size_t offset, const char* fragment) {
  auto r = parse_json(text);
  if (r.ok()) {
    std::fprintf(stderr, "expected failure for %s\n", text);
    return false;
  }
  const std::string& m = r.status().message();
  bool ok = r.status().code() == StatusCode::kInvalidArgument &&
            m.find("at byte " + std::to_string(offset) + ":") != std::string::npos && m.find(fragment) != std::string::npos;
  if (!ok) std::fprintf(stderr, "for %s got: %s\n", text, m.c_str());
  return ok;
}

int main() {
  {
    auto r = parse_json(R"( {"b": 1, "a": [true, false, null, -0.5e1, "x"], "c": {"d": 9007199254740993}} )");
    CHECK_OK(r);
    const JsonValue& v = r.value();
    CHECK(v.is_object());
    CHECK(v.members().size() == 3);
    CHECK(v.members()[0].first == "b" && v.members()[1].first == "a" && v.members()[2].first == "c");
    CHECK(v.find("b")->is_integer() && v.find("b")->as_int() == 1);
    const auto& a = v.find("a")->items();
    CHECK(a.size() == 5 && a[0].as_bool() && !a[1].as_bool() && a[2].is_null());
    CHECK(a[3].is_number() && !a[3].is_integer() && a[3].as_double() == -5.0);
    CHECK(a[4].as_string() == "x");
    // Integers beyond 2^53 stay exact.
    CHECK(v.find("c")->find("d")->as_int() == 9007199254740993LL);
    CHECK(v.find("zz") == nullptr);
  }
  {
    auto r = parse_json(R"("a\"b\\c\/\n\t\u00e9\ud83d\ude00")");
    CHECK_OK(r);
    CHECK(r.value().as_string() == "a\"b\\c/\n\t\xc3\xa9\xf0\x9f\x98\x80");
    // Serialise and re-parse: identical string.
    auto again = parse_json(to_json(r.value()));
    CHECK_OK(again);
    CHECK(again.value().as_string() == r.value().as_string());
  }
  {
    // 1.0 is not an integer; 12345678901234567890 does not fit int64 and becomes a double.
    auto r = parse_json("[1.0, 12345678901234567890, 0, -7]");
    CHECK_OK(r);
    CHECK(!r.value().items()[0].is_integer());
    CHECK(!r.value().items()[1].is_integer() && r.value().items()[1].as_double() > 1e19);
    CHECK(r.value().items()[2].is_integer() && r.value().items()[3].as_int() == -7);
  }
  // Malformed inputs: offset and reason.
  CHECK(fails_at("", 0, "unexpected end of input"));
  CHECK(fails_at("{\"a\":1,}", 7, "expected a string key"));
  CHECK(fails_at("[1,2", 4, "unexpected end of input in an array"));
  CHECK(fails_at("{\"a\" 1}", 5, "expected ':'"));
  CHECK(fails_at("{\"a\":1,\"a\":2}", 7, "duplicate key \"a\""));
  CHECK(fails_at("01", 1, "trailing"));
  CHECK(fails_at("1.", 2, "digit expected after '.'"));
  CHECK(fails_at("1e+", 3, "digit expected in exponent"));
  CHECK(fails_at("\"abc", 4, "unterminated string"));
  CHECK(fails_at("\"a\x01\"", 2, "control character"));
  CHECK(fails_at("\"\\x\"", 2, "invalid escape"));
  CHECK(fails_at("\"\\ud800\"", 7, "unpaired high surrogate"));
  CHECK(fails_at("\"\xff\"", 1, "invalid UTF-8"));
  CHECK(fails_at("\"\xc3\"", 1, "invalid UTF-8"));
  CHECK(fails_at("tru", 0, "unexpected character 't'"));
  CHECK(fails_at("[1] x", 4, "trailing"));
  CHECK(fails_at("1e999", 0, "out of range"));
  CHECK(fails_at("-", 1, "truncated number"));
  {
    std::string deep(100, '[');
    deep += std::string(100, ']');
    auto r = parse_json(deep);
    CHECK(!r.ok() && r.status().message().find("nesting deeper than 64") != std::string::npos);
    JsonParseOptions opts;
    opts.max_depth = 200;
    CHECK_OK(parse_json(deep, opts));
  }
  {
    // Builder + serialiser: compact and pretty, key order kept, set() replaces in place.
    JsonValue o = JsonValue::object();
    o.set("z", JsonValue::integer(-3));
    o.set("a", JsonValue::number(0.1));
    o.set("s", JsonValue::string("q\"\n\x01"));
    o.set("n", JsonValue::number(std::nan("")));
    o.set("z", JsonValue::array({JsonValue::boolean(true), JsonValue()}));
    CHECK(to_json(o) == "{\"z\":[true,null],\"a\":0.1,\"s\":\"q\\\"\\n\\u0001\",\"n\":null}");
    CHECK(to_json(o, 1) == "{\n \"z\": [\n  true,\n  null\n ],\n \"a\": 0.1,\n \"s\": \"q\\\"\\n\\u0001\",\n \"n\": null\n}");
    auto back = parse_json(to_json(o, 2));
    CHECK_OK(back);
    CHECK(to_json(back.value()) == to_json(o));
    // Shortest round-trip doubles.
    CHECK(to_json(JsonValue::number(1e-6)) == "1e-06");
    auto d = parse_json(to_json(JsonValue::number(0.30000000000000004)));
    CHECK(d.ok() && d.value().as_double() == 0.30000000000000004);
  }
  {
    auto missing = read_json_file("/nonexistent/dir/x.json");
    CHECK(!missing.ok() && missing.status().code() == StatusCode::kModelLoad);
    CHECK(missing.status().message().find("/nonexistent/dir/x.json") != std::string::npos);
  }
  return ditto_test::finish("test_json");
}

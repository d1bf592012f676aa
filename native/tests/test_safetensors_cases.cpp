// The shared table of malformed safetensors files (test/fixtures/safetensors-cases.json, read with the engine's
// own JSON parser) against SafetensorsFile::open: the valid cases open, every other case is kModelLoad with
// exactly "Invalid safetensors file \"<path>\": <error>" (or a message containing `contains`). The same table
// runs against the TypeScript reader (test/unit/safetensors-cases.test.ts), so the two readers agree on every rule.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "check.h"
#include "ditto/json.h"
#include "ditto/safetensors.h"

using namespace ditto;

static std::string string_field(const JsonValue& c, const char* key) {
  const JsonValue* v = c.find(key);
  return v && v->is_string() ? v->as_string() : std::string();
}

// Writes the case's file as the table's _comment describes; false when it could not be made.
static bool make_case_file(const JsonValue& c, const std::string& path) {
  const std::string special = string_field(c, "special");
  if (special == "fifo") return ::mkfifo(path.c_str(), 0600) == 0;
  if (special == "directory") return ::mkdir(path.c_str(), 0700) == 0;
  if (special.rfind("symlink:", 0) == 0) return ::symlink(special.substr(8).c_str(), path.c_str()) == 0;
  std::ofstream out(path, std::ios::binary);
  if (const JsonValue* raw = c.find("raw")) {
    out << raw->as_string();
    return bool(out);
  }
  const std::string header = string_field(c, "header");
  uint64_t length = header.size();
  if (const JsonValue* v = c.find("headerLength")) length = static_cast<uint64_t>(v->as_int());
  if (const JsonValue* v = c.find("headerLengthDelta")) length += static_cast<uint64_t>(v->as_int());
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(length >> (8 * i)));
  out << header;
  const int64_t data = c.find("data") ? c.find("data")->as_int() : 0;
  for (int64_t i = 0; i < data; ++i) out.put(static_cast<char>(i & 255));
  return bool(out);
}

int main() {
  std::ifstream in("test/fixtures/safetensors-cases.json");
  std::stringstream text;
  text << in.rdbuf();
  auto table = parse_json(text.str());
  CHECK_OK(table);
  if (!table.ok()) return ditto_test::finish("test_safetensors_cases");
  const JsonValue* cases = table.value().find("cases");
  CHECK(cases && cases->is_array() && cases->items().size() > 30);

  char tmpl[] = "/tmp/ditto_test_st_cases_XXXXXX";
  const std::string dir = mkdtemp(tmpl) ? std::string(tmpl) : std::string("/tmp");
  for (const JsonValue& c : cases->items()) {
    const std::string name = string_field(c, "name");
    const std::string path = dir + "/" + name + ".safetensors";
    if (!make_case_file(c, path)) {
      std::fprintf(stderr, "%s: could not create the file\n", name.c_str());
      ++ditto_test::failures();
      continue;
    }
    const std::string error = string_field(c, "error"), contains = string_field(c, "contains");
    auto r = SafetensorsFile::open(path);
    if (error.empty() && contains.empty()) {
      if (!r.ok()) {
        std::fprintf(stderr, "%s: expected to open, got %s\n", name.c_str(), r.status().message().c_str());
        ++ditto_test::failures();
      }
      continue;
    }
    const std::string prefix = "Invalid safetensors file \"" + path + "\": ";
    const std::string message = r.ok() ? std::string("(opened)") : r.status().message();
    const bool matches = !r.ok() && r.status().code() == StatusCode::kModelLoad &&
                         (error.empty() ? message.rfind(prefix, 0) == 0 && message.find(contains) != std::string::npos
                                        : message == prefix + error);
    if (!matches) {
      std::fprintf(stderr, "%s: got %s\n  wanted %s%s\n", name.c_str(), message.c_str(), prefix.c_str(),
                   error.empty() ? ("... " + contains + " ...").c_str() : error.c_str());
      ++ditto_test::failures();
    }
  }
  std::string cleanup = "rm -rf '" + dir + "'";
  if (std::system(cleanup.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
  return ditto_test::finish("test_safetensors_cases");
}

// safetensors reader/writer (format: github.com/huggingface/safetensors, "Format" section of its README):
// 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, __metadata__},
// then the raw little-endian data. The file is mmap'd once (MAP_PRIVATE, so a stray write through a view
// stays private to the process instead of crashing or touching the file) and the mapping lives as long as
// the SafetensorsFile or any Tensor borrowed from it. The whole header is validated before open() returns,
// including the format's layout rule: the tensors tile the data section exactly (no overlap, gap or trailing
// bytes), which is what catches a header length that is off by a few bytes. The TypeScript reader
// (src/io/safetensors.ts) applies the same rules with the same messages; test/fixtures/safetensors-cases.json
// runs against both (native/tests/test_safetensors_cases.cpp).
#include "ditto/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "ditto/json.h"

namespace ditto {

struct SafetensorsFileAccess {
  static std::shared_ptr<SafetensorsFile> make() { return std::shared_ptr<SafetensorsFile>(new SafetensorsFile()); }
};

namespace {

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

Status invalid_file(const std::string& path, const std::string& what) {
  return model_load_error("Invalid safetensors file " + quoted(path) + ": " + what);
}

// Dtypes Ditto reads, in safetensors spelling; others the format knows are named as unsupported.
bool parse_dtype(const std::string& name, DType* out) {
  static const std::pair<const char*, DType> kKnown[] = {{"F32", DType::F32}, {"BF16", DType::BF16},
                                                         {"F16", DType::F16}, {"I64", DType::I64},
                                                         {"I32", DType::I32}, {"U8", DType::U8},
                                                         {"F64", DType::F64}};
  for (const auto& [n, d] : kKnown)
    if (name == n) {
      *out = d;
      return true;
    }
  return false;
}

bool is_format_dtype(const std::string& name) {
  static const char* kFormat[] = {"BOOL", "I8", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0",
                                  "F4", "F6_E2M3", "F6_E3M2", "C64"};
  for (const char* n : kFormat)
    if (name == n) return true;
  return false;
}

Status parse_entry(const std::string& path, const std::string& name, const JsonValue& v, uint64_t data_size,
                   SafetensorsEntry* out) {
  const std::string tensor = "tensor " + quoted(name);
  if (!v.is_object())
    return invalid_file(path, tensor + " is described by a JSON " + JsonValue::kind_name(v.kind()) +
                                  ", expected an object");
  const JsonValue* dtype = v.find("dtype");
  if (!dtype) return invalid_file(path, tensor + " has no dtype");
  if (!dtype->is_string()) return invalid_file(path, tensor + " has a non-string dtype");
  if (!parse_dtype(dtype->as_string(), &out->dtype)) {
    if (is_format_dtype(dtype->as_string()))
      return invalid_file(path, tensor + " has dtype " + dtype->as_string() + ", which Ditto does not read");
    return invalid_file(path, tensor + " has unknown dtype " + quoted(dtype->as_string()));
  }
  const JsonValue* shape = v.find("shape");
  if (!shape) return invalid_file(path, tensor + " has no shape");
  if (!shape->is_array()) return invalid_file(path, tensor + " has a shape that is not an array");
  out->shape.clear();
  uint64_t numel = 1;
  bool overflow = false;
  for (size_t i = 0; i < shape->items().size(); ++i) {
    const JsonValue& d = shape->items()[i];
    if (!d.is_integer() || d.as_int() < 0)
      return invalid_file(path, tensor + " has an invalid shape: dimension " + std::to_string(i) + " is " +
                                    to_json(d) + " (must be a non-negative integer)");
    uint64_t dim = static_cast<uint64_t>(d.as_int());
    if (dim != 0 && numel > (uint64_t(1) << 62) / dim) overflow = true;
    numel *= dim;
    out->shape.push_back(d.as_int());
  }
  const JsonValue* offsets = v.find("data_offsets");
  if (!offsets) return invalid_file(path, tensor + " has no data_offsets");
  if (!offsets->is_array() || offsets->items().size() != 2 || !offsets->items()[0].is_integer() ||
      !offsets->items()[1].is_integer() || offsets->items()[0].as_int() < 0 || offsets->items()[1].as_int() < 0)
    return invalid_file(path, tensor + " has data_offsets " + to_json(*offsets) +
                                  ", expected [begin, end] as two non-negative integers");
  out->begin = static_cast<uint64_t>(offsets->items()[0].as_int());
  out->end = static_cast<uint64_t>(offsets->items()[1].as_int());
  const std::string range = "[" + std::to_string(out->begin) + ", " + std::to_string(out->end) + "]";
  if (out->begin > out->end) return invalid_file(path, tensor + " has data_offsets " + range + " with begin > end");
  if (out->end > data_size)
    return invalid_file(path, tensor + " has data_offsets " + range + " past the end of the data section (" +
                                  std::to_string(data_size) + " bytes)");
  const uint64_t bytes = out->end - out->begin;
  if (overflow || bytes != numel * dtype_size(out->dtype))
    return invalid_file(path, tensor + " has " + std::to_string(bytes) + " bytes but shape " +
                                  shape_string(out->shape) + " of " + dtype_name(out->dtype) + " needs " +
                                  (overflow ? std::string("more than 2^62") : std::to_string(numel * dtype_size(out->dtype))));
  out->name = name;
  return Status::Ok();
}

// The reference implementation's layout rule: sorted by offset, the tensors tile [0, data_size) exactly.
// Empty tensors occupy nothing but must still sit at the running offset.
Status check_coverage(const std::string& path, const std::vector<SafetensorsEntry>& entries, uint64_t data_size) {
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t cursor = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const SafetensorsEntry* e : by_offset) {
    if (e->begin < cursor)
      return invalid_file(path, "tensors " + quoted(previous->name) + " and " + quoted(e->name) + " overlap (bytes [" +
                                    std::to_string(previous->begin) + ", " + std::to_string(previous->end) + ") and [" +
                                    std::to_string(e->begin) + ", " + std::to_string(e->end) + "))");
    if (e->begin > cursor)
      return invalid_file(path, "the data offsets leave bytes [" + std::to_string(cursor) + ", " +
                                    std::to_string(e->begin) + ") unused before tensor " + quoted(e->name));
    cursor = e->end;
    previous = e;
  }
  if (cursor != data_size)
    return invalid_file(path, "the data offsets end at byte " + std::to_string(cursor) + " but the data section has " +
                                  std::to_string(data_size) + " bytes (a wrong header length or missing tensors)");
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is rejected as not a regular file just below.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return model_load_error("Cannot open safetensors file " + quoted(path) + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalid_file(path, "not a regular file");
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    return invalid_file(path, "the file is " + std::to_string(file_size) +
                                  " bytes, shorter than the 8-byte header length");
  }
  void* map = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);  // the mapping keeps the file referenced
  if (map == MAP_FAILED) return invalid_file(path, std::string("mmap failed: ") + std::strerror(errno));

  auto file = SafetensorsFileAccess::make();
  file->path_ = path;
  file->map_ = static_cast<const uint8_t*>(map);
  file->map_size_ = file_size;
  file->keepalive_ = std::shared_ptr<const void>(map, [file_size](const void* p) {
    ::munmap(const_cast<void*>(p), file_size);
  });

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | file->map_[i];
  if (header_len > kMaxHeaderBytes)
    return invalid_file(path, "header length " + std::to_string(header_len) + " exceeds the limit of " +
                                  std::to_string(kMaxHeaderBytes) + " bytes");
  if (header_len > file_size - 8)
    return invalid_file(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                                  std::to_string(file_size) + " bytes)");
  file->data_offset_ = 8 + header_len;
  const uint64_t data_size = file_size - file->data_offset_;

  std::string_view header(reinterpret_cast<const char*>(file->map_ + 8), header_len);
  auto parsed = parse_json(header);
  if (!parsed.ok()) return invalid_file(path, "the header is not valid JSON (" + parsed.status().message() + ")");
  const JsonValue& root = parsed.value();
  if (!root.is_object())
    return invalid_file(path, std::string("the header is a JSON ") + JsonValue::kind_name(root.kind()) +
                                  ", expected an object");

  for (const auto& [name, value] : root.members()) {
    if (name == "__metadata__") {
      if (!value.is_object()) return invalid_file(path, "__metadata__ is not an object of strings");
      for (const auto& [key, item] : value.members()) {
        if (!item.is_string())
          return invalid_file(path, "__metadata__ must map strings to strings, but " + quoted(key) + " is a " +
                                        JsonValue::kind_name(item.kind()));
        file->metadata_[key] = item.as_string();
      }
      continue;
    }
    SafetensorsEntry entry;
    DITTO_RETURN_IF_ERROR(parse_entry(path, name, value, data_size, &entry));
    file->index_[name] = file->entries_.size();
    file->entries_.push_back(std::move(entry));
  }

  DITTO_RETURN_IF_ERROR(check_coverage(path, file->entries_, data_size));
  return file;
}

SafetensorsFile::~SafetensorsFile() = default;  // keepalive_ unmaps once no borrowed tensor remains

bool SafetensorsFile::has(const std::string& name) const { return index_.count(name) != 0; }

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

Result<Tensor> SafetensorsFile::get(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  if (!e) return model_load_error("Tensor " + quoted(name) + " is missing from " + quoted(path_));
  auto* data = const_cast<uint8_t*>(map_ + data_offset_ + e->begin);
  return Tensor::borrow(keepalive_, data, e->dtype, e->shape);
}

Result<Tensor> SafetensorsFile::get_f32(const std::string& name, const Shape& expected) const {
  const SafetensorsEntry* e = find(name);
  if (!e) return model_load_error("Tensor " + quoted(name) + " is missing from " + quoted(path_));
  if (!expected.empty() && e->shape != expected)
    return model_load_error("Tensor " + quoted(name) + " in " + quoted(path_) + " has shape " +
                            shape_string(e->shape) + " but " + shape_string(expected) + " was expected");
  if (e->dtype != DType::F32 && e->dtype != DType::BF16 && e->dtype != DType::F16 && e->dtype != DType::F64)
    return model_load_error("Tensor " + quoted(name) + " in " + quoted(path_) + " has dtype " +
                            dtype_name(e->dtype) + ", expected a floating-point tensor (F32, BF16, F16)");
  DITTO_ASSIGN_OR_RETURN(Tensor view, get(name));
  DITTO_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::F32, e->shape));
  const int64_t n = out.numel();
  const uint8_t* src = static_cast<const uint8_t*>(view.raw());
  float* dst = out.data<float>();
  // Byte-wise loads: tensors in a file need not be aligned to their element size.
  for (int64_t i = 0; i < n; ++i) {
    switch (e->dtype) {
      case DType::F32: std::memcpy(&dst[i], src + 4 * i, 4); break;
      case DType::BF16: {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
        break;
      }
      case DType::F16: {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = f16_to_f32(h);
        break;
      }
      case DType::F64: {
        double d;
        std::memcpy(&d, src + 8 * i, 8);
        dst[i] = static_cast<float>(d);
        break;
      }
      default: break;
    }
  }
  return out;
}

Status write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  std::vector<const std::pair<std::string, Tensor>*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i]->first == sorted[i - 1]->first)
      return invalid_argument("Cannot write safetensors file " + quoted(path) + ": duplicate tensor name " +
                              quoted(sorted[i]->first));

  JsonValue header = JsonValue::object();
  if (!metadata.empty()) {
    JsonValue meta = JsonValue::object();
    for (const auto& [k, v] : metadata) meta.set(k, JsonValue::string(v));
    header.set("__metadata__", std::move(meta));
  }
  uint64_t offset = 0;
  for (const auto* t : sorted) {
    if (t->first == "__metadata__")
      return invalid_argument("Cannot write safetensors file " + quoted(path) + ": \"__metadata__\" is reserved");
    JsonValue shape = JsonValue::array();
    for (int64_t d : t->second.shape()) shape.items().push_back(JsonValue::integer(d));
    const uint64_t bytes = t->second.nbytes();
    JsonValue entry = JsonValue::object();
    entry.set("dtype", JsonValue::string(dtype_name(t->second.dtype())));
    entry.set("shape", std::move(shape));
    entry.set("data_offsets", JsonValue::array({JsonValue::integer(static_cast<int64_t>(offset)),
                                                JsonValue::integer(static_cast<int64_t>(offset + bytes))}));
    header.set(t->first, std::move(entry));
    offset += bytes;
  }
  std::string text = to_json(header);
  while (text.size() % 8) text.push_back(' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return invalid_argument("Cannot write safetensors file " + quoted(path) + ": " + std::strerror(errno));
  uint8_t len[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto* t : sorted)
    if (t->second.nbytes()) out.write(static_cast<const char*>(t->second.raw()), static_cast<std::streamsize>(t->second.nbytes()));
  out.close();
  if (!out) return invalid_argument("Cannot write safetensors file " + quoted(path) + ": write failed");
  return Status::Ok();
}

}  // namespace ditto

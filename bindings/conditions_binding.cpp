// See conditions_binding.h.
#include "conditions_binding.h"

#include <cctype>

#include "errors.h"
#include "tensor_binding.h"

namespace ditto_node {

ditto::Conditions ParseConditions(Napi::Env env, const ditto::ModelInfo& info, const Napi::Value& labels,
                                  const Napi::Value& tensors, const std::string& what) {
  ditto::Conditions conditions;
  if (!labels.IsUndefined()) {
    if (!labels.IsTypedArray() || labels.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      ThrowTypeError(env, "Expected Int32Array for " + what + "labels");
    Napi::Int32Array y = labels.As<Napi::Int32Array>();
    conditions.labels.assign(y.Data(), y.Data() + y.ElementLength());
  }
  const bool given = tensors.IsObject();
  if (!given && !tensors.IsUndefined()) ThrowTypeError(env, "Expected an object of Tensors for " + what + "conditions");
  size_t named = 0;
  for (const ditto::TensorSpec& spec : info.conditions) {
    if (spec.name == "labels") continue;
    Napi::Value value = given ? tensors.As<Napi::Object>().Get(spec.name) : env.Undefined();
    if (value.IsUndefined()) {
      if (!spec.optional) ThrowTypeError(env, "Expected Tensor for " + what + "conditions." + spec.name + " but received undefined");
      conditions.tensors.emplace_back();
      continue;
    }
    const std::string name = what + "conditions." + spec.name;
    conditions.tensors.push_back(TensorWrap::Get(env, value, name.c_str()));
    ++named;
  }
  if (given && tensors.As<Napi::Object>().GetPropertyNames().Length() != named)
    ThrowTypeError(env, "Unknown condition in " + what + "conditions for the " + info.family + " family");
  return conditions;
}

Napi::Array TensorSpecsToJs(Napi::Env env, const std::vector<ditto::TensorSpec>& specs) {
  Napi::Array list = Napi::Array::New(env, specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", specs[i].name);
    Napi::Array shape = Napi::Array::New(env, specs[i].shape.size());
    for (size_t d = 0; d < specs[i].shape.size(); ++d) shape.Set(uint32_t(d), double(specs[i].shape[d]));
    o.Set("shape", shape);
    std::string dtype = ditto::dtype_name(specs[i].dtype);  // the API spells dtypes in lower case: "f32", "i64"
    for (char& c : dtype) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    o.Set("dtype", dtype);
    o.Set("optional", specs[i].optional);
    list.Set(uint32_t(i), o);
  }
  return list;
}

}  // namespace ditto_node

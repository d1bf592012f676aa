// Conditions from JS for any family (ditto/model.h): labels (Int32Array, for label-conditioned families) and
// named condition tensors ({ encoderHiddenStates: NativeTensor, … }) placed in the order of ModelInfo::conditions;
// and the model's input / condition / output specs as plain JS objects. Names and shapes are checked with
// user-facing messages in TypeScript (src/conditions.ts); the checks here keep the addon safe when called directly.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "ditto/model.h"

namespace ditto_node {

// labels: Int32Array or undefined; tensors: object of NativeTensors or undefined. `what` prefixes messages.
ditto::Conditions ParseConditions(Napi::Env env, const ditto::ModelInfo& info, const Napi::Value& labels,
                                  const Napi::Value& tensors, const std::string& what);

// [{ name, shape, dtype, optional }]
Napi::Array TensorSpecsToJs(Napi::Env env, const std::vector<ditto::TensorSpec>& specs);

}  // namespace ditto_node

// The CPU loaders of the text-conditioned families, for the registry (runtime/model_registry.cpp).
#pragma once
#include "ditto/model.h"
#include "ditto/safetensors.h"

namespace ditto {
namespace sd3 {
Status detect(const SafetensorsFile& weights);
FamilyLoader cpu_loader();
}  // namespace sd3
namespace flux {
Status detect(const SafetensorsFile& weights);
FamilyLoader cpu_loader();
}  // namespace flux
}  // namespace ditto

// The PixArt-α/Σ family (pixart.cpp): detection from tensor names and the CPU loader for the model registry.
#pragma once
#include "ditto/model.h"
#include "ditto/safetensors.h"

namespace ditto::pixart {
Status detect(const SafetensorsFile& weights);
FamilyLoader cpu_loader();
}  // namespace ditto::pixart

// The DiT family's description for the executor and the registry, shared by its CPU (dit.cpp) and CUDA
// (native/src/cuda/dit_cuda.cpp) backends: config as data, the backbone (one block list) with MACs per part,
// layout detection for load_model(), and the CPU loader.
#pragma once
#include "ditto/dit.h"
#include "ditto/model.h"
#include "ditto/safetensors.h"

namespace ditto::dit {

ModelInfo model_info(const DitConfig& config);
// MACs per sample at T tokens: prelude = patch embed + timestep MLP per condition group + every adaLN
// projection (blocks' and final's); block = qkv + attention + proj + MLP; final = the output Linear.
PartMacs part_macs(const DitConfig& config, int64_t tokens, int64_t groups, int64_t mlp_hidden);
uint64_t attention_macs(const DitConfig& config, int64_t tokens);  // QK^T and AV over all heads
Backbone backbone(const DitConfig& config, int64_t groups, int64_t mlp_hidden);
// The reference's split (facebookresearch/DiT flops counting, the glyph fixture's dit.json): blocks include
// their adaLN projection, the final layer its own.
MacCount reference_macs(const DitConfig& config, int64_t groups, int64_t mlp_hidden);
std::string block_prefix(const DitConfig& config);  // "blocks" / "transformer_blocks"
Status detect(const SafetensorsFile& weights);
FamilyLoader cpu_loader();

}  // namespace ditto::dit

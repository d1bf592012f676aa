// What every model family exposes to the runtime and the binding: run options (block plans, abort flag,
// intermediate capture) and the per-block actions the caching / guidance executor will drive (design.md §3).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ditto/status.h"
#include "ditto/tensor.h"

namespace ditto {

// What to do with one transformer block in one forward (design.md §3). Only compute/skip/scale exist in
// the engine today; reuse/forecast/store arrive with the cache executor.
enum class BlockActionKind { Compute, Skip, Scale };
struct BlockAction {
  BlockActionKind kind = BlockActionKind::Compute;
  float alpha = 1.f;  // Scale: h_out = h_in + alpha * (block(h_in) - h_in)
};

// Receives named intermediates (reference module paths, e.g. "blocks.0.out") when capture is on.
using IntermediateSink = std::function<void(std::string_view name, const Tensor& value)>;

struct ForwardOptions {
  std::vector<BlockAction> blocks;                  // empty = compute every block
  const std::atomic<bool>* abort = nullptr;         // checked between blocks -> kAborted
  IntermediateSink capture;                         // null = no capture (zero cost)
};

// MAC counts of one forward, for the stats every run reports.
struct MacCount {
  uint64_t total = 0;
  uint64_t blocks = 0;
};

}  // namespace ditto

// Element-wise results reuse freed tensor memory instead of mapping fresh pages each time (the storage cache,
// native/src/core/storage_cache.cpp). Measured by minor page faults, not time: a [400, 3, 32, 32] result is 4.9 MB =
// 1,200 pages, and before the cache every add/sub/clone/concat of that size faulted all of them in again.
import { describe, expect, it } from "vitest";

import { Tensor } from "../../src/tensor.js";

const SHAPE = [400, 3, 32, 32];
const PAGES_PER_TENSOR = (400 * 3 * 32 * 32 * 4) / 4096;

describe("tensor storage reuse", () => {
  it("repeated sampler-sized ops touch (almost) no fresh pages once warm", () => {
    const a = Tensor.from(new Float32Array(400 * 3 * 32 * 32).fill(1), SHAPE);
    const b = a.scale(2);
    const round = () => {
      const results = [a.add(b), a.sub(b), a.mul(b), a.scale(0.5), a.lerp(b, 0.25), Tensor.combine([[1, a], [2, b]]), a.clone(), Tensor.concat([a, b])];
      for (const t of results) t.dispose();
    };
    round(); // warm: the first round maps the blocks
    const before = process.resourceUsage().minorPageFault;
    const rounds = 10;
    for (let i = 0; i < rounds; i++) round();
    const faults = process.resourceUsage().minorPageFault - before;
    a.dispose();
    b.dispose();
    // Without reuse: ≥ 9 tensors' pages per round (concat is two) = 10,800 per round. Allow other activity (V8, GC)
    // far below that.
    expect(faults).toBeLessThan(rounds * PAGES_PER_TENSOR);
  });
});

// Concurrency (issue 24, item 4): 16 generate() calls in flight at once on one pipeline return, bit for bit, what
// the same calls return one after another; the steps of the calls interleave on the model's job queue, so this
// holds only if no call sees another's session, scheduler state or tensors. The event-loop delay during such a
// burst is measured by scripts/reliability/concurrency.mjs (docs/reliability.md); no test asserts times.
import path from "node:path";
import { fileURLToPath } from "node:url";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { memory } from "../../src/memory.js";
import { Pipeline } from "../../src/pipeline/index.js";

const MODEL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../examples/models/glyphs");

let pipe: Pipeline;
beforeAll(async () => {
  pipe = await Pipeline.load({ kind: "class-conditional", model: MODEL, threads: 2 });
});
afterAll(async () => {
  await pipe?.dispose();
});

// Different batch sizes, labels, seeds, CFG scales and step counts, so that interleaved steps differ in shape.
const calls = Array.from({ length: 16 }, (_, i) => ({
  classLabels: Array.from({ length: 1 + (i % 3) }, (_, k) => (i + 3 * k) % 11),
  seed: 1000 + i,
  steps: 2 + (i % 2),
  guidanceScale: i % 4 === 0 ? 1 : 1.5 + i / 4,
}));

describe("16 concurrent generate() calls on one pipeline", () => {
  it("return exactly what sequential calls return, and leave no native memory behind", async () => {
    const sequential: Float32Array[] = [];
    for (const options of calls) {
      const out = await pipe.generate(options);
      sequential.push(out.latents.toFloat32Array());
      out.latents.dispose();
    }
    const before = memory().allocatedBytes;
    let inFlight = 0, maxInFlight = 0;
    const results = await Promise.all(calls.map(async (options) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const out = await pipe.generate(options);
      inFlight -= 1;
      const latents = out.latents.toFloat32Array();
      out.latents.dispose();
      return { latents, images: out.images.length };
    }));
    expect(maxInFlight).toBe(16);
    results.forEach((r, i) => {
      expect(r.images).toBe(calls[i]!.classLabels.length);
      expect(Buffer.from(r.latents.buffer).equals(Buffer.from(sequential[i]!.buffer))).toBe(true);
    });
    for (let i = 0; i < 500 && memory().allocatedBytes > before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(memory().allocatedBytes).toBeLessThanOrEqual(before);
  });
});

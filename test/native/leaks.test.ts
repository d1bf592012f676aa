// Leak checks, short CI variant (issue 24, item 5; the long runs with slopes are scripts/reliability/leaks.mjs):
// with the engine's allocation counter, repeated small generations hold exactly the same native bytes after each
// one, and pipeline load / generate / dispose cycles return to exactly the bytes held before the first.
import path from "node:path";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

import { memory } from "../../src/memory.js";
import { Pipeline } from "../../src/pipeline/index.js";

const MODEL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../examples/models/glyphs");
const small = { classLabels: [3, 7], steps: 3, guidanceScale: 2 };

async function settleAt(bytes: number): Promise<number> {
  for (let i = 0; i < 500 && memory().allocatedBytes !== bytes; i++) await new Promise((r) => setTimeout(r, 10));
  return memory().allocatedBytes;
}

// The counter once it has stopped moving (five polls in a row unchanged): the previous test's model may still be
// on its way out (its job thread exits just after dispose).
async function settled(): Promise<number> {
  let last = memory().allocatedBytes;
  for (let same = 0, i = 0; same < 5 && i < 500; i++) {
    await new Promise((r) => setTimeout(r, 10));
    const now = memory().allocatedBytes;
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

describe("native memory over repeated work", () => {
  it("is identical after each of 30 small generations", async () => {
    const pipe = await Pipeline.load({ model: MODEL, threads: 2 });
    try {
      const first = await pipe.generate({ ...small, seed: 0 });
      first.latents.dispose();
      const held = memory().allocatedBytes;
      for (let i = 1; i <= 30; i++) {
        const out = await pipe.generate({ ...small, seed: i });
        out.latents.dispose();
        expect(await settleAt(held)).toBe(held);
      }
    } finally {
      await pipe.dispose();
    }
  });

  it("returns to the starting bytes after each of 8 load / generate / dispose cycles", async () => {
    const base = await settled();
    for (let i = 0; i < 8; i++) {
      const pipe = await Pipeline.load({ model: MODEL, threads: 2 });
      const out = await pipe.generate({ ...small, seed: i });
      out.latents.dispose();
      await pipe.dispose();
      expect(await settleAt(base)).toBe(base);
    }
  });
});

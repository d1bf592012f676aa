// Leak checks, short CI variant (issue 24, item 5; the long runs with slopes are scripts/reliability/leaks.mjs):
// with the engine's allocation counter, repeated small generations hold exactly the same native bytes after each
// one, and pipeline load / generate / dispose cycles return to exactly the bytes held before the first.
import path from "node:path";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

import { memory } from "../../src/memory.js";
import { Pipeline } from "../../src/pipeline/index.js";
import { settleAt, settled } from "../native-async.js";

const MODEL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../examples/models/glyphs");
const small = { classLabels: [3, 7], steps: 3, guidanceScale: 2 };

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

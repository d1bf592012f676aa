// Loading refuses a model whose sizes cannot fit in memory before it allocates anything (issue 24, item 1): the
// config's sizes give a lower bound of what the model would hold, checked against physical memory, and the error
// names the file and the fields. Absurd single fields (depth 1e9) and inconsistent ones (hidden size not divisible
// by the heads) are refused by the config reader itself. The engine's allocation counter proves nothing was allocated.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { afterAll, describe, expect, it } from "vitest";

import { DittoError } from "../../src/errors.js";
import { memory } from "../../src/memory.js";
import { loadModel } from "../../src/model.js";

const MODEL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../examples/models/glyphs");
const root = mkdtempSync(path.join(tmpdir(), "ditto-memory-check-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let folders = 0;
function withKwargs(patch: Record<string, unknown>): string {
  const dir = path.join(root, `m${folders++}`);
  const json = JSON.parse(readFileSync(path.join(MODEL, "dit.json"), "utf8"));
  Object.assign(json.kwargs, patch);
  mkdirSync(dir);
  copyFileSync(path.join(MODEL, "dit.safetensors"), path.join(dir, "dit.safetensors"));
  writeFileSync(path.join(dir, "dit.json"), JSON.stringify(json));
  return dir;
}
async function loadError(dir: string): Promise<{ error: DittoError; allocations: number }> {
  const before = memory().allocations;
  try {
    (await loadModel(dir)).dispose();
  } catch (e) {
    return { error: e as DittoError, allocations: memory().allocations - before };
  }
  throw new Error("expected loadModel to reject");
}

describe("loading a model too large for this machine", () => {
  for (const [what, patch, fields] of [
    ["depth 2^20", { depth: 1048576 }, '"depth" 1048576, "hidden_size" 192, "mlp_ratio" 4, "input_size" 32 / "patch_size" 4'],
    ["hidden size 2^20", { hidden_size: 1048576, num_heads: 1 }, '"depth" 6, "hidden_size" 1048576, "mlp_ratio" 4, "input_size" 32 / "patch_size" 4'],
    ["a 2^20-pixel side with patch 1", { input_size: 1048576, patch_size: 1 }, '"depth" 6, "hidden_size" 192, "mlp_ratio" 4, "input_size" 1048576 / "patch_size" 1'],
  ] as const) {
    it(`is refused before any allocation: ${what}`, async () => {
      const dir = withKwargs(patch);
      const { error, allocations } = await loadError(dir);
      expect(error).toBeInstanceOf(DittoError);
      expect(error.code).toBe("ERR_OUT_OF_MEMORY");
      const prefix = `Model config "${dir}/dit.json" (${fields}) would need `;
      expect(error.message.startsWith(prefix)).toBe(true);
      expect(error.message.slice(prefix.length)).toMatch(/^\d+ bytes but this machine has \d+ bytes of memory$/);
      expect(allocations).toBe(0);
    });
  }

  it("refuses absurd and inconsistent sizes by name", async () => {
    let dir = withKwargs({ depth: 1e9 });
    let { error, allocations } = await loadError(dir);
    expect([error.code, error.message, allocations]).toEqual(["ERR_MODEL_LOAD", `Invalid model config "${dir}/dit.json": "depth" must be at most 1048576, got 1000000000`, 0]);
    dir = withKwargs({ hidden_size: 190 });
    ({ error, allocations } = await loadError(dir));
    expect([error.code, error.message, allocations]).toEqual(["ERR_MODEL_LOAD", `Invalid model config "${dir}/dit.json": hidden size 190 is not divisible by 3 heads`, 0]);
  });
});

// Model config errors through the addon name the field that is wrong (issue 22, defect 9): a config.json / dit.json
// with an absurd value must say which kwarg, not complain about a field derived from it.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { loadModel } from "../../src/model.js";
import { REPO_ROOT } from "../shared-paths.js";

const VENDORED = path.join(REPO_ROOT, "examples/models/glyphs");

describe("model config errors", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ditto-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(path.join(VENDORED, "dit.safetensors"), path.join(dir, "dit.safetensors"));
  const original = JSON.parse(readFileSync(path.join(VENDORED, "dit.json"), "utf8"));
  const withKwargs = (kwargs: Record<string, unknown>) =>
    writeFileSync(path.join(dir, "dit.json"), JSON.stringify({ ...original, kwargs: { ...original.kwargs, ...kwargs } }));
  const configPath = JSON.stringify(path.join(dir, "dit.json"));

  it.each([
    [{ hidden_size: 1e9 }, `"hidden_size" must be at most 1048576, got 1000000000`],
    [{ mlp_ratio: -1 }, `"mlp_ratio" must be a positive number, got -1`],
    [{ mlp_ratio: 1e7 }, `the MLP width "mlp_ratio" x hidden size = 1e+07 x 192 must be at most 1e9`],
  ])("%o is refused naming the field", async (kwargs, message) => {
    withKwargs(kwargs);
    await expect(loadModel(dir)).rejects.toMatchObject({ code: "ERR_MODEL_LOAD", message: `Invalid model config ${configPath}: ${message}` });
  });
});

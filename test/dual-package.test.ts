// The dual-package hazard (issue 22, defect 7): `require('ditto-dit')` (dist/index.cjs) and `import 'ditto-dit'`
// (dist/index.js) in one process are two copies of every class. Objects from one copy must work with the other:
// a CJS Tensor into an ESM Model, ops mixing both, instanceof across copies, errors recognised by either copy, a
// CJS Model handed to the ESM Pipeline. Runs the built dist/ in a child process (package self-reference from the
// repo root); skipped when dist/ or the addon is not built.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { addonPath } from "../src/native.js";
import { REPO_ROOT } from "./shared-paths.js";

const MODEL_DIR = path.join(REPO_ROOT, "examples/models/glyphs");
const READY = existsSync(path.join(REPO_ROOT, "dist/index.js")) && existsSync(path.join(REPO_ROOT, "dist/index.cjs")) && existsSync(addonPath());

const PROBE = `
import { createRequire } from "node:module";
import * as esm from "ditto-dit";
const cjs = createRequire(process.cwd() + "/")("ditto-dit");
const shape = [2, 3, 32, 32];
const data = new Float32Array(2 * 3 * 32 * 32).map((_, i) => Math.sin(i));
const fromCjs = cjs.Tensor.from(data, shape);
const fromEsm = esm.Tensor.from(data, shape);
const model = await esm.loadModel(${JSON.stringify(MODEL_DIR)}, { threads: 1 });
const a = (await model.forward(fromCjs, [500, 20], [3, 10])).toFloat32Array();
const b = (await model.forward(fromEsm, [500, 20], [3, 10])).toFloat32Array();
const cjsModel = await cjs.loadModel(${JSON.stringify(MODEL_DIR)}, { threads: 1 });
const pipe = await esm.Pipeline.load({ model: cjsModel });
const pipelineModel = pipe.model === cjsModel;
cjsModel.dispose();
const error = await cjsModel.forward(fromEsm, [500, 20], [3, 10]).catch((e) => e);
console.log(JSON.stringify({
  twoCopies: cjs.Tensor !== esm.Tensor,
  sameForward: a.length === b.length && a.every((v, i) => v === b[i]),
  instanceofAcross: fromCjs instanceof esm.Tensor && fromEsm instanceof cjs.Tensor && model instanceof cjs.Model,
  plainObjectIsNotATensor: !({ shape } instanceof esm.Tensor),
  add: fromCjs.add(fromEsm).toFloat32Array().every((v, i) => v === Math.fround(data[i] * 2)),
  concat: esm.Tensor.concat([fromCjs, fromEsm]).shape,
  combine: esm.Tensor.combine([[1, fromCjs], [-1, fromEsm]]).toFloat32Array().every((v) => v === 0),
  pipelineModel,
  errorAcross: esm.isDittoError(error, "ERR_DISPOSED") && error instanceof esm.DittoError && error instanceof cjs.DittoError,
}));
`;

describe.skipIf(!READY)("CJS and ESM builds together", () => {
  it("accept each other's Tensors, Models and errors", () => {
    const stdout = execFileSync(process.execPath, ["--input-type=module", "-e", PROBE], {
      cwd: REPO_ROOT, encoding: "utf8", env: { ...process.env, DITTO_ADDON_PATH: addonPath() },
    });
    expect(JSON.parse(stdout.trim().split("\n").pop()!)).toEqual({
      twoCopies: true,
      sameForward: true,
      instanceofAcross: true,
      plainObjectIsNotATensor: true,
      add: true,
      concat: [4, 3, 32, 32],
      combine: true,
      pipelineModel: true,
      errorAcross: true,
    });
  });
});

// Thread requests above the cores available (issue 22, defect 8): loadModel and Pipeline.load cap them at the core
// count with a process warning (DITTO_THREADS_CAPPED) instead of oversubscribing the machine.
import { availableParallelism } from "node:os";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { loadModel } from "../../src/model.js";
import { Pipeline } from "../../src/pipeline/pipeline.js";
import { REPO_ROOT } from "../shared-paths.js";

const MODEL = path.join(REPO_ROOT, "examples/models/glyphs");
const CORES = availableParallelism();

describe("threads above the core count", () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on("warning", onWarning);
  afterEach(() => void warnings.splice(0));

  it("loadModel caps them with a warning", async () => {
    await using model = await loadModel(MODEL, { threads: CORES + 5 });
    expect(model.threads).toBe(CORES);
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    expect(warnings.map((w) => [(w as Error & { code?: string }).code, w.message])).toEqual([
      ["DITTO_THREADS_CAPPED", `options.threads ${CORES + 5} is more than the ${CORES} cores available to this process; using ${CORES}`],
    ]);
  });

  it("Pipeline.load caps them too, and a request within the cores passes unchanged and silent", async () => {
    const pipe = await Pipeline.load({ model: MODEL, threads: 1000 });
    expect(pipe.model.threads).toBe(CORES);
    await pipe.dispose();
    await using exact = await loadModel(MODEL, { threads: CORES });
    expect(exact.threads).toBe(CORES);
    await new Promise((r) => setImmediate(r));
    expect(warnings).toHaveLength(1);
  });
});

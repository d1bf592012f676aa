// `ditto verify` on the SD3 and Flux golden cases through the library: every io_roles output passes its
// per-tensor tolerance (SD3 including out_skip_layers_1, Flux including official.out from
// model.official.safetensors), nothing is skipped, and a Flux folder holding only the official checkpoint is still
// verified in full (its output compared as `out`, its captures under the reference names). Skipped when ../shared is absent.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { verifyCase } from "../../src/verify/index.js";
import { GOLDEN } from "../shared-paths.js";

const HAS_CASES = existsSync(path.join(GOLDEN, "sd3/config.json")) && existsSync(path.join(GOLDEN, "flux/config.json"));

describe.skipIf(!HAS_CASES)("verify golden SD3 / Flux cases", () => {
  const tmp = mkdtempSync(path.join(tmpdir(), "ditto-verify-mmdit-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("sd3: every output passes, skip_layers included", async () => {
    const result = await verifyCase(path.join(GOLDEN, "sd3"), { threads: 2 });
    expect(result).toMatchObject({ case: "sd3", pass: true, skipped: [] });
    expect(result.outputs!.out_skip_layers_1!.pass).toBe(true);
    expect(Object.keys(result.outputs!)).toHaveLength(13);
  });

  it("flux: every output passes in both layouts", async () => {
    const result = await verifyCase(path.join(GOLDEN, "flux"), { threads: 2 });
    expect(result).toMatchObject({ case: "flux", pass: true, skipped: [] });
    expect(result.outputs!["official.out"]!.pass).toBe(true);
    expect(result.outputs!["rope.cos"]!.pass).toBe(true);
  });

  it("flux: a folder with only the official checkpoint", async () => {
    const dir = path.join(tmp, "flux-official");
    mkdirSync(dir, { recursive: true });
    for (const f of ["config.json", "io.safetensors", "model.official.safetensors"]) copyFileSync(path.join(GOLDEN, "flux", f), path.join(dir, f));
    const result = await verifyCase(dir, { threads: 2 });
    expect(result).toMatchObject({ pass: true, skipped: [] });
    expect(result.outputs!.out!.pass).toBe(true);
    expect(result.outputs!["transformer_blocks.1.out_context"]!.pass).toBe(true);
    expect(result.outputs!["official.out"]!.pass).toBe(true);
  });
});

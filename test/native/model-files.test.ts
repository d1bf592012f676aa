// loadModel on damaged or unusual weight files (issue 22, defects 2 and 3), end to end through the engine's reader:
// a header length one byte short (which still parses, thanks to the header's trailing pad space) used to load
// every tensor shifted by a byte and sample black images; a FIFO in place of the weights used to block the load
// job forever. Both now reject at once with ERR_MODEL_LOAD. (The reader's rules: test/fixtures/safetensors-cases.json.)
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { DittoError } from "../../src/errors.js";
import { loadModel } from "../../src/model.js";

const MODEL = new URL("../../examples/models/glyphs", import.meta.url).pathname;
const dir = mkdtempSync(path.join(tmpdir(), "ditto-model-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function modelDir(name: string, writeWeights: (file: string) => void): string {
  const out = path.join(dir, name);
  mkdirSync(out);
  copyFileSync(path.join(MODEL, "dit.json"), path.join(out, "dit.json"));
  writeWeights(path.join(out, "dit.safetensors"));
  return out;
}

async function loadError(folder: string): Promise<DittoError> {
  try {
    (await loadModel(folder)).dispose();
  } catch (e) {
    return e as DittoError;
  }
  throw new Error("expected loadModel to reject");
}

describe("loadModel on damaged weight files", () => {
  it("rejects a header length one byte short instead of loading shifted tensors", async () => {
    const bytes = readFileSync(path.join(MODEL, "dit.safetensors"));
    const headerLength = bytes.readBigUInt64LE(0);
    expect(bytes[8 + Number(headerLength) - 1]).toBe(0x20); // the pad space that lets the shortened header parse
    const shortened = Buffer.from(bytes);
    shortened.writeBigUInt64LE(headerLength - 1n, 0);
    const folder = modelDir("one-short", (file) => writeFileSync(file, shortened));
    const error = await loadError(folder);
    expect(error.code).toBe("ERR_MODEL_LOAD");
    const dataBytes = bytes.length - 8 - Number(headerLength);
    expect(error.message).toBe(
      `Invalid safetensors file "${folder}/dit.safetensors": the data offsets end at byte ${dataBytes} but the data ` +
        `section has ${dataBytes + 1} bytes (a wrong header length or missing tensors)`,
    );
  });

  it("rejects a FIFO in place of the weights without waiting for a writer", async () => {
    const folder = modelDir("fifo", (file) => execFileSync("mkfifo", [file]));
    const error = await loadError(folder);
    expect(error.code).toBe("ERR_MODEL_LOAD");
    expect(error.message).toBe(`Invalid safetensors file "${folder}/dit.safetensors": not a regular file`);
  });
});

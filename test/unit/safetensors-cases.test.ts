// The shared table of malformed safetensors files (test/fixtures/safetensors-cases.json) against the TypeScript
// reader: readSafetensors (from disk), readSafetensorsHeader and parseSafetensors (in memory) must each accept the
// valid cases and reject the others with ERR_MODEL_LOAD and the engine's exact message. The same table runs against
// the engine's reader in native/tests/test_safetensors_cases.cpp, so the two readers agree on every rule.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { DittoError } from "../../src/errors.js";
import { parseSafetensors, readSafetensors, readSafetensorsHeader } from "../../src/io/safetensors.js";

interface Case {
  name: string;
  header?: string;
  data: number;
  raw?: string;
  headerLength?: number;
  headerLengthDelta?: number;
  special?: string;
  error?: string;
  contains?: string;
}

const table = JSON.parse(readFileSync(path.join(__dirname, "../fixtures/safetensors-cases.json"), "utf8")) as { cases: Case[] };
const dir = mkdtempSync(path.join(tmpdir(), "ditto-st-cases-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The case's bytes, as the table's _comment describes them. */
function caseBytes(c: Case): Uint8Array {
  if (c.raw !== undefined) return new TextEncoder().encode(c.raw);
  const header = new TextEncoder().encode(c.header!);
  const out = new Uint8Array(8 + header.length + c.data);
  new DataView(out.buffer).setBigUint64(0, BigInt(c.headerLength ?? header.length + (c.headerLengthDelta ?? 0)), true);
  out.set(header, 8);
  for (let i = 0; i < c.data; i++) out[8 + header.length + i] = i & 255;
  return out;
}

function makeFile(c: Case): string {
  const file = path.join(dir, `${c.name}.safetensors`);
  if (c.special === "fifo") execFileSync("mkfifo", [file]);
  else if (c.special === "directory") mkdirSync(file);
  else if (c.special?.startsWith("symlink:")) symlinkSync(c.special.slice("symlink:".length), file);
  else writeFileSync(file, caseBytes(c));
  return file;
}

function expectVerdict(c: Case, file: string, read: () => unknown): void {
  let caught: unknown;
  try {
    read();
  } catch (e) {
    caught = e;
  }
  if (c.error === undefined && c.contains === undefined) {
    expect(caught).toBeUndefined();
    return;
  }
  expect(caught).toBeInstanceOf(DittoError);
  expect((caught as DittoError).code).toBe("ERR_MODEL_LOAD");
  const prefix = `Invalid safetensors file "${file}": `;
  if (c.error !== undefined) expect((caught as DittoError).message).toBe(prefix + c.error);
  else {
    expect((caught as DittoError).message.startsWith(prefix)).toBe(true);
    expect((caught as DittoError).message).toContain(c.contains);
  }
}

describe("the shared safetensors case table, TypeScript reader", () => {
  it("has cases for every rule", () => expect(table.cases.length).toBeGreaterThan(30));
  for (const c of table.cases) {
    it(c.name, () => {
      const file = makeFile(c);
      expectVerdict(c, file, () => readSafetensors(file));
      expectVerdict(c, file, () => readSafetensorsHeader(file));
      if (!c.special) expectVerdict(c, file, () => parseSafetensors(caseBytes(c), file));
    });
  }
});

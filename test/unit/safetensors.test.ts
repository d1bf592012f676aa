// The TS safetensors reader/writer: round trips of every dtype, the on-disk layout (sorted, contiguous, header
// padded to 8 bytes), missing and truncated files, and reading a golden io file when ../shared is present. The
// validation rules are the shared table test/fixtures/safetensors-cases.json (safetensors-cases.test.ts).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import {
  encodeSafetensors,
  parseSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  toFloat32Array,
  toNumberArray,
  writeSafetensors,
} from "../../src/io/safetensors.js";
import { GOLDEN, HAS_GOLDEN } from "../shared-paths.js";

const dir = mkdtempSync(path.join(tmpdir(), "ditto-st-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("safetensors round trip", () => {
  it("writes sorted, contiguous tensors with a space-padded header and reads them back", () => {
    const file = path.join(dir, "round.safetensors");
    const f32 = Float32Array.from({ length: 15 }, (_, i) => Math.sin(i) * 3.5);
    writeSafetensors(
      file,
      {
        "z.f32": { shape: [3, 5], data: f32 },
        "a.i64": { dtype: "I64", shape: [3], data: [7, -2, 1000] },
        "m.u8": { shape: [2, 2], data: Uint8Array.from([0, 1, 254, 255]) },
        "b.f64": { shape: [1], data: Float64Array.from([Math.PI]) },
        "c.bf16": { dtype: "BF16", shape: [2], data: Uint16Array.from([0x3f80, 0xc040]) },
        "e.empty": { shape: [0, 4], data: new Float32Array(0) },
      },
      { format: "pt", note: "test" },
    );
    const content = readSafetensors(file);
    expect([...content.tensors.keys()]).toEqual(["a.i64", "b.f64", "c.bf16", "e.empty", "m.u8", "z.f32"]);
    expect(content.metadata).toEqual({ format: "pt", note: "test" });
    expect(content.tensors.get("z.f32")!.shape).toEqual([3, 5]);
    expect(Array.from(content.tensors.get("z.f32")!.data as Float32Array)).toEqual(Array.from(f32));
    expect(toNumberArray(content.tensors.get("a.i64")!)).toEqual([7, -2, 1000]);
    expect(toNumberArray(content.tensors.get("m.u8")!)).toEqual([0, 1, 254, 255]);
    expect(toFloat32Array(content.tensors.get("c.bf16")!)).toEqual(Float32Array.from([1, -3]));
    expect(toNumberArray(content.tensors.get("b.f64")!)).toEqual([Math.PI]);
    expect(content.tensors.get("e.empty")!.data.length).toBe(0);

    const bytes = encodeSafetensors({ b: { shape: [1], data: Float32Array.of(2) }, a: { shape: [2], data: Float32Array.of(0, 1) } });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header.a.data_offsets).toEqual([0, 8]);
    expect(header.b.data_offsets).toEqual([8, 12]);
    expect(readSafetensorsHeader(file).get("z.f32")).toEqual({ dtype: "F32", shape: [3, 5] });
  });

  it("rejects writer input that does not match its shape or dtype", () => {
    expect(() => encodeSafetensors({ x: { shape: [2, 2], data: new Float32Array(3) } })).toThrow(
      'Expected 4 elements for tensor "x" of shape [2, 2] but received 3',
    );
    expect(() => encodeSafetensors({ x: { dtype: "I64", shape: [1], data: new Float32Array(1) } })).toThrow(TypeError);
    expect(() => encodeSafetensors({ x: { shape: [1], data: [1] } })).toThrow('Expected a dtype for tensor "x"');
  });
});

// Every validation rule is a case of test/fixtures/safetensors-cases.json (safetensors-cases.test.ts).
describe("safetensors files", () => {
  it("missing file names the path", () => {
    expect(() => readSafetensors(path.join(dir, "missing.safetensors"))).toThrow(/Cannot read safetensors file .*missing\.safetensors/);
  });
  it("truncated data from a real writer", () => {
    const good = encodeSafetensors({ w: { shape: [4], data: new Float32Array(4) } });
    const file = path.join(dir, "truncated.safetensors");
    writeFileSync(file, good.subarray(0, good.length - 3));
    expect(() => readSafetensors(file)).toThrow("past the end of the data section (13 bytes)");
    expect(() => parseSafetensors(good.subarray(0, good.length - 3), file)).toThrow("past the end of the data section (13 bytes)");
  });
});

describe.skipIf(!HAS_GOLDEN)("golden io files", () => {
  it("reads dit-official/io.safetensors with its documented shapes and dtypes", () => {
    const io = readSafetensors(path.join(GOLDEN, "dit-official/io.safetensors"));
    expect(io.tensors.get("x")).toMatchObject({ dtype: "F32", shape: [3, 4, 16, 16] });
    expect(io.tensors.get("t")!.dtype).toBe("I64");
    const t = toNumberArray(io.tensors.get("t")!);
    expect(t.every((v) => Number.isInteger(v) && v >= 0 && v <= 999)).toBe(true);
  });
});

// The TS safetensors reader/writer: round trips of every dtype, the on-disk layout (sorted, contiguous, header
// padded to 8 bytes), and one hand-made malformed file per validation rule, each an ERR_MODEL_LOAD naming the
// problem; plus reading a golden io file when ../shared is present.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { DittoError } from "../../src/errors.js";
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

/** A file from a raw header object and data bytes (the header is written as given, unpadded). */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function expectLoadError(bytes: Uint8Array, fragment: string): void {
  let caught: unknown;
  try {
    parseSafetensors(bytes, "bad.safetensors");
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(DittoError);
  expect((caught as DittoError).code).toBe("ERR_MODEL_LOAD");
  expect((caught as DittoError).message).toContain("bad.safetensors");
  expect((caught as DittoError).message).toContain(fragment);
}

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

describe("safetensors validation (each malformed file is ERR_MODEL_LOAD)", () => {
  const f32x2 = new Uint8Array(8);
  it("file shorter than 8 bytes", () => expectLoadError(new Uint8Array(5), "shorter than the 8-byte header length"));
  it("header length past the end of the file", () => {
    const bytes = rawFile({});
    new DataView(bytes.buffer).setBigUint64(0, 1000n, true);
    expectLoadError(bytes, "runs past the end of the file");
  });
  it("header length over the cap", () => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, 1n << 40n, true);
    expectLoadError(bytes, "exceeds the");
  });
  it("header that is not JSON", () => expectLoadError(rawFile(null, undefined, "{not json"), "not valid UTF-8 JSON"));
  it("header that is a JSON array", () => expectLoadError(rawFile([1, 2]), "not a JSON object"));
  it("unknown dtype", () => expectLoadError(rawFile({ w: { dtype: "F8", shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)), 'tensor "w" has unknown dtype "F8"'));
  it("byte length that does not match the shape", () =>
    expectLoadError(rawFile({ w: { dtype: "F32", shape: [2, 4], data_offsets: [0, 8] } }, f32x2), 'tensor "w" holds 8 bytes but F32 [2,4] needs 32'));
  it("overlapping tensors", () =>
    expectLoadError(
      rawFile({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f32x2),
      'tensor "b" overlaps tensor "a"',
    ));
  it("offsets past the data section", () =>
    expectLoadError(rawFile({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, f32x2), "past the data section"));
  it("begin after end", () => expectLoadError(rawFile({ w: { dtype: "F32", shape: [0], data_offsets: [8, 4] } }, f32x2), "begin 8 > end 4"));
  it("negative or fractional shape", () => {
    expectLoadError(rawFile({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 0] } }), "invalid shape [-1]");
    expectLoadError(rawFile({ w: { dtype: "F32", shape: [1.5], data_offsets: [0, 4] } }, f32x2), "invalid shape [1.5]");
  });
  it("missing data_offsets", () => expectLoadError(rawFile({ w: { dtype: "F32", shape: [2] } }, f32x2), 'tensor "w" has invalid data_offsets'));
  it("non-string metadata", () => expectLoadError(rawFile({ __metadata__: { n: 3 } }), '__metadata__ value for "n" is not a string'));
  it("missing file names the path", () => {
    expect(() => readSafetensors(path.join(dir, "missing.safetensors"))).toThrow(/Cannot read safetensors file .*missing\.safetensors/);
  });
  it("truncated data from a real writer", () => {
    const good = encodeSafetensors({ w: { shape: [4], data: new Float32Array(4) } });
    const file = path.join(dir, "truncated.safetensors");
    writeFileSync(file, good.subarray(0, good.length - 3));
    expect(() => readSafetensors(file)).toThrow("past the data section");
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

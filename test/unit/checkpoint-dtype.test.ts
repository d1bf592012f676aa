// The checkpoint dtype rule behind loadModel / loadVae's default dtype (src/io/checkpointDType.ts): bf16 when every
// floating-point tensor of rank >= 2 is BF16 (f32 biases allowed), f32 for f32 / f16 / mixed matrices or no
// matrices, undefined when the file cannot be read; and the weights-file lookup the engine uses.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { storedWeightsDType, weightsFile } from "../../src/io/checkpointDType.js";
import { writeSafetensors, type SafetensorsTensorInput } from "../../src/io/safetensors.js";

const tmp = mkdtempSync(path.join(tmpdir(), "ditto-ckpt-dtype-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const bf16 = (shape: number[]): SafetensorsTensorInput => ({ dtype: "BF16", shape, data: new Uint16Array(shape.reduce((a, b) => a * b, 1)) });
const f32 = (shape: number[]): SafetensorsTensorInput => ({ dtype: "F32", shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
const f16 = (shape: number[]): SafetensorsTensorInput => ({ dtype: "F16", shape, data: new Uint16Array(shape.reduce((a, b) => a * b, 1)) });
const i64 = (shape: number[]): SafetensorsTensorInput => ({ dtype: "I64", shape, data: new BigInt64Array(shape.reduce((a, b) => a * b, 1)) });

function file(name: string, tensors: Record<string, SafetensorsTensorInput>): string {
  const p = path.join(tmp, name);
  writeSafetensors(p, tensors);
  return p;
}

describe("storedWeightsDType", () => {
  it.each([
    ["all bf16", { "a.weight": bf16([3, 5]), "a.bias": bf16([3]) }, "bf16"],
    ["bf16 matrices, f32 biases and norms", { "a.weight": bf16([3, 5]), "a.bias": f32([3]), "conv.weight": bf16([2, 3, 3, 3]), "ids": i64([4, 3]) }, "bf16"],
    ["one f32 matrix among bf16 ones", { "a.weight": bf16([3, 5]), "b.weight": f32([5, 3]) }, "f32"],
    ["f32", { "a.weight": f32([3, 5]) }, "f32"],
    ["f16 (widened)", { "a.weight": f16([3, 5]) }, "f32"],
    ["no matrices", { "a.bias": bf16([3]) }, "f32"],
  ] as const)("%s", (name, tensors, expected) => {
    expect(storedWeightsDType(file(`${name}.safetensors`, tensors as Record<string, SafetensorsTensorInput>))).toBe(expected);
  });

  it("is undefined for a missing or unreadable file (the engine reports why)", () => {
    expect(storedWeightsDType(undefined)).toBeUndefined();
    expect(storedWeightsDType(path.join(tmp, "missing.safetensors"))).toBeUndefined();
    const broken = path.join(tmp, "broken.safetensors");
    writeFileSync(broken, "not a safetensors file");
    expect(storedWeightsDType(broken)).toBeUndefined();
  });
});

describe("weightsFile", () => {
  it("a file itself, the preferred names, else the only *.safetensors", () => {
    const dir = path.join(tmp, "folder");
    mkdirSync(dir);
    expect(weightsFile(path.join(tmp, "nowhere"), ["model.safetensors"])).toBeUndefined();
    expect(weightsFile(dir, ["model.safetensors"])).toBeUndefined();
    const only = file("folder/diffusion_pytorch_model.safetensors", { "a.weight": f32([2, 2]) });
    expect(weightsFile(dir, ["model.safetensors"])).toBe(only);
    expect(weightsFile(only, ["model.safetensors"])).toBe(only);
    file("folder/io.safetensors", { x: f32([1]) });
    expect(weightsFile(dir, ["model.safetensors"])).toBeUndefined(); // two candidates: the engine refuses, so do we
    expect(weightsFile(dir, ["model.safetensors"], ["io.safetensors"])).toBe(only);
    const preferred = file("folder/model.safetensors", { "a.weight": f32([2, 2]) });
    expect(weightsFile(dir, ["model.safetensors"])).toBe(preferred);
  });
});

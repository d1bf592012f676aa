// safetensors reader and writer in TypeScript (format: huggingface/safetensors docs — 8-byte little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then raw little-endian
// data). Used by `ditto verify`, tests, the eval harness (--save) and tools; the engine has its own mmap reader.
// The whole header is validated before any tensor is returned (same rules as native/src/io): header length within a
// cap and within the file, a JSON object, known dtypes, non-negative integer shapes, in-bounds, ordered,
// non-overlapping offsets and byte length == numel × dtype size. Every error is a DittoError ERR_MODEL_LOAD naming
// the file and the tensor. The writer sorts tensors by name, packs them contiguously and pads the header with
// spaces to a multiple of 8 (what the reference writer and shared/golden do).
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";

import { DittoError, describeValue } from "../errors.js";

export type SafetensorsDType =
  | "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U64" | "U32" | "U16" | "U8" | "BOOL";

export type SafetensorsData =
  | Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array
  | BigUint64Array | Uint32Array | Uint8Array;

export interface SafetensorsTensor {
  dtype: SafetensorsDType;
  shape: number[];
  /** Element storage (its own aligned copy). F16/BF16 come as raw Uint16Array bits; BOOL as Uint8Array. */
  data: SafetensorsData;
}

export interface SafetensorsContent {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** What the writer accepts: a typed array (dtype inferred) or numbers with an explicit dtype. */
export interface SafetensorsTensorInput {
  dtype?: SafetensorsDType;
  shape: readonly number[];
  data: SafetensorsData | readonly number[];
}

export const MAX_HEADER_BYTES = 100 * 1024 * 1024; // as the reference implementation

const DTYPE_BYTES: Record<SafetensorsDType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

function isDType(value: unknown): value is SafetensorsDType {
  return typeof value === "string" && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, value);
}

function typedArrayFor(dtype: SafetensorsDType, buffer: ArrayBuffer): SafetensorsData {
  switch (dtype) {
    case "F64": return new Float64Array(buffer);
    case "F32": return new Float32Array(buffer);
    case "F16": case "BF16": case "U16": return new Uint16Array(buffer);
    case "I64": return new BigInt64Array(buffer);
    case "I32": return new Int32Array(buffer);
    case "I16": return new Int16Array(buffer);
    case "I8": return new Int8Array(buffer);
    case "U64": return new BigUint64Array(buffer);
    case "U32": return new Uint32Array(buffer);
    case "U8": case "BOOL": return new Uint8Array(buffer);
  }
}

function loadError(source: string, message: string): DittoError {
  return new DittoError("ERR_MODEL_LOAD", `Invalid safetensors file ${source}: ${message}`);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Parses and validates a whole safetensors image held in memory. `source` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, source = "<buffer>"): SafetensorsContent {
  if (bytes.byteLength < 8) throw loadError(source, `file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw loadError(source, `header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte cap`);
  }
  const n = Number(headerLength);
  if (8 + n > bytes.byteLength) {
    throw loadError(source, `header length ${n} runs past the end of the file (${bytes.byteLength} bytes)`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw loadError(source, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw loadError(source, "header is not a JSON object");
  }
  const dataStart = 8 + n;
  const dataBytes = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const parsed: { name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (entry === null || typeof entry !== "object" || Array.isArray(entry)) throw loadError(source, "__metadata__ is not an object");
      for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof value !== "string") throw loadError(source, `__metadata__ value for "${key}" is not a string`);
        metadata[key] = value;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) throw loadError(source, `${where} is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDType(dtype)) throw loadError(source, `${where} has unknown dtype ${describeValue(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
      throw loadError(source, `${where} has an invalid shape ${JSON.stringify(shape)} (expected non-negative integers)`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
      throw loadError(source, `${where} has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw loadError(source, `${where} has data_offsets begin ${begin} > end ${end}`);
    if (end > dataBytes) throw loadError(source, `${where} data_offsets end ${end} is past the data section (${dataBytes} bytes)`);
    const expected = numel(shape) * DTYPE_BYTES[dtype];
    if (end - begin !== expected) {
      throw loadError(source, `${where} holds ${end - begin} bytes but ${dtype} ${JSON.stringify(shape)} needs ${expected}`);
    }
    parsed.push({ name, dtype, shape: shape as number[], begin, end });
  }
  const byOffset = [...parsed].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let furthest: (typeof parsed)[number] | undefined; // the tensor reaching furthest so far
  for (const cur of byOffset) {
    if (cur.end === cur.begin) continue; // empty tensors occupy no bytes
    if (furthest && cur.begin < furthest.end) {
      throw loadError(source, `tensor "${cur.name}" overlaps tensor "${furthest.name}" in the data section`);
    }
    if (!furthest || cur.end > furthest.end) furthest = cur;
  }
  const tensors = new Map<string, SafetensorsTensor>();
  for (const t of parsed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    // Copy into a fresh buffer: keeps the result aligned for its element type and independent of `bytes`.
    const copy = Uint8Array.prototype.slice.call(bytes, dataStart + t.begin, dataStart + t.end); // Buffer#slice would be a view
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data: typedArrayFor(t.dtype, copy.buffer) });
  }
  return { tensors, metadata };
}

/** Reads and validates a .safetensors file. Missing/unreadable files are ERR_MODEL_LOAD naming the path. */
export function readSafetensors(path: string): SafetensorsContent {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new DittoError("ERR_MODEL_LOAD", `Cannot read safetensors file ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseSafetensors(bytes, path);
}

function inferDType(data: SafetensorsTensorInput["data"], name: string): SafetensorsDType {
  if (data instanceof Float32Array) return "F32";
  if (data instanceof Float64Array) return "F64";
  if (data instanceof BigInt64Array) return "I64";
  if (data instanceof BigUint64Array) return "U64";
  if (data instanceof Int32Array) return "I32";
  if (data instanceof Uint32Array) return "U32";
  if (data instanceof Int16Array) return "I16";
  if (data instanceof Int8Array) return "I8";
  if (data instanceof Uint8Array) return "U8";
  throw new TypeError(`Expected a dtype for tensor "${name}" (its data is ${describeValue(data)})`);
}

function toStorage(dtype: SafetensorsDType, data: SafetensorsTensorInput["data"], name: string): Uint8Array {
  let typed: SafetensorsData;
  if (Array.isArray(data)) {
    const out = typedArrayFor(dtype, new ArrayBuffer(data.length * DTYPE_BYTES[dtype]));
    if (out instanceof BigInt64Array || out instanceof BigUint64Array) {
      data.forEach((v, i) => { out[i] = BigInt(Math.trunc(v)); });
    } else if (dtype === "BF16" || dtype === "F16") {
      throw new TypeError(`Expected raw Uint16Array bits for ${dtype} tensor "${name}" but received number[]`);
    } else {
      (out as Float32Array).set(data as number[]);
    }
    typed = out;
  } else {
    typed = data as SafetensorsData;
    const expectedCtor = typedArrayFor(dtype, new ArrayBuffer(0)).constructor;
    if (typed.constructor !== expectedCtor) {
      throw new TypeError(`Expected ${expectedCtor.name} for tensor "${name}" (dtype ${dtype}) but received ${describeValue(typed)}`);
    }
  }
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

/** Serialises tensors (sorted by name, contiguous, header space-padded to 8 bytes) to one buffer. */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsTensorInput> | Map<string, SafetensorsTensorInput>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new TypeError(`Expected string for metadata "${k}" but received ${describeValue(v)}`);
    }
    header.__metadata__ = metadata;
  }
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === "__metadata__") throw new RangeError('Expected a tensor name other than "__metadata__"');
    const dtype = t.dtype ?? inferDType(t.data, name);
    if (!isDType(dtype)) throw new TypeError(`Expected a safetensors dtype for tensor "${name}" but received ${describeValue(dtype)}`);
    const shape = [...t.shape];
    if (!shape.every(isNonNegativeInteger)) throw new RangeError(`Expected non-negative integer shape for tensor "${name}" but received ${describeValue(shape)}`);
    const blob = toStorage(dtype, t.data, name);
    if (blob.byteLength !== numel(shape) * DTYPE_BYTES[dtype]) {
      throw new RangeError(`Expected ${numel(shape)} elements for tensor "${name}" of shape [${shape.join(", ")}] but received ${blob.byteLength / DTYPE_BYTES[dtype]}`);
    }
    header[name] = { dtype, shape, data_offsets: [offset, offset + blob.byteLength] };
    blobs.push(blob);
    offset += blob.byteLength;
  }
  let json = JSON.stringify(header);
  const jsonBytesLength = Buffer.byteLength(json, "utf8");
  json += " ".repeat((8 - (jsonBytesLength % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const blob of blobs) {
    out.set(blob, at);
    at += blob.byteLength;
  }
  return out;
}

export function writeSafetensors(
  path: string,
  tensors: Record<string, SafetensorsTensorInput> | Map<string, SafetensorsTensorInput>,
  metadata: Record<string, string> = {},
): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}

function bf16ToF32(bits: Uint16Array): Float32Array {
  const u32 = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u32[i] = bits[i]! << 16;
  return new Float32Array(u32.buffer);
}

function f16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    out[i] = exp === 0 ? sign * frac * 2 ** -24
      : exp === 31 ? (frac ? NaN : sign * Infinity)
      : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}

/** The tensor's values as float32 (a copy for every dtype but F32, which is returned as stored). */
export function toFloat32Array(tensor: SafetensorsTensor): Float32Array {
  const { dtype, data } = tensor;
  if (dtype === "F32") return data as Float32Array;
  if (dtype === "BF16") return bf16ToF32(data as Uint16Array);
  if (dtype === "F16") return f16ToF32(data as Uint16Array);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float32Array.from(data, (v) => Number(v));
  return Float32Array.from(data as ArrayLike<number>);
}

/** The tensor's values as JS numbers (I64 beyond 2^53 loses precision, as Number() does). */
export function toNumberArray(tensor: SafetensorsTensor): number[] {
  const { dtype, data } = tensor;
  if (dtype === "BF16" || dtype === "F16") return Array.from(toFloat32Array(tensor));
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, (v) => Number(v));
  return Array.from(data as ArrayLike<number>);
}

/** Looks a tensor up, failing with ERR_MODEL_LOAD naming the file when it is absent. */
export function requireTensor(content: SafetensorsContent, name: string, source = "<buffer>"): SafetensorsTensor {
  const t = content.tensors.get(name);
  if (!t) throw new DittoError("ERR_MODEL_LOAD", `Tensor "${name}" not found in ${source}`);
  return t;
}

/** Tensor names, dtypes and shapes of a file without reading its data (for family detection). */
export function readSafetensorsHeader(path: string): Map<string, { dtype: SafetensorsDType; shape: number[] }> {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const lengthBytes = Buffer.alloc(8);
    if (readSync(fd, lengthBytes, 0, 8, 0) !== 8) throw loadError(path, "file is shorter than the 8-byte header length");
    const headerLength = lengthBytes.readBigUInt64LE(0);
    if (headerLength > BigInt(MAX_HEADER_BYTES)) throw loadError(path, `header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte cap`);
    const n = Number(headerLength);
    const header = Buffer.alloc(n);
    if (readSync(fd, header, 0, n, 8) !== n) throw loadError(path, `header length ${n} runs past the end of the file`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(header.toString("utf8"));
    } catch (e) {
      throw loadError(path, `header is not valid UTF-8 JSON (${(e as Error).message})`);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw loadError(path, "header is not a JSON object");
    const out = new Map<string, { dtype: SafetensorsDType; shape: number[] }>();
    for (const [name, entry] of Object.entries(parsed as Record<string, { dtype: unknown; shape: unknown }>)) {
      if (name === "__metadata__") continue;
      if (!entry || !isDType(entry.dtype) || !Array.isArray(entry.shape)) throw loadError(path, `tensor "${name}" has an invalid header entry`);
      out.set(name, { dtype: entry.dtype, shape: entry.shape as number[] });
    }
    return out;
  } catch (e) {
    if (e instanceof DittoError) throw e;
    throw new DittoError("ERR_MODEL_LOAD", `Cannot read safetensors file ${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

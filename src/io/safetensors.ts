// safetensors reader and writer in TypeScript (format: huggingface/safetensors docs — 8-byte little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then raw little-endian
// data). Used by `ditto verify`, tests, the eval harness (--save) and tools; the engine has its own mmap reader.
// Reading: the file type and size first (only regular files; a FIFO or /dev/zero would never end), then the
// length field and the header with bounded reads, and the whole header is validated before any tensor is read,
// with the engine's rules and messages (native/src/io/safetensors.cpp; test/fixtures/safetensors-cases.json
// runs against both): header length within the 100 MiB cap and the file, a JSON object without duplicate keys,
// known dtypes, non-negative integer shapes and offsets, byte length == numel × dtype size, and offsets that tile
// the data section exactly (no overlap, gap or tail). Every error is a DittoError ERR_MODEL_LOAD naming the file.
// The TS reader knows every format dtype (BOOL, I8, U16…); the engine reads only those it computes with.
// The writer sorts tensors by name, packs them contiguously and pads the header with spaces to a multiple of 8
// (what the reference writer and shared/golden do).
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, writeFileSync } from "node:fs";

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
  return new DittoError("ERR_MODEL_LOAD", `Invalid safetensors file "${source}": ${message}`);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** JSON kind names as the engine's parser spells them (JsonValue::kind_name). */
function jsonKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value === "object" ? "object" : typeof value;
}

/** The 8-byte header length, checked against the cap and the file size (both readers' first two rules). */
function checkedHeaderLength(lengthField: bigint, fileSize: number, source: string): number {
  if (lengthField > BigInt(MAX_HEADER_BYTES)) {
    throw loadError(source, `header length ${lengthField} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  const n = Number(lengthField);
  if (n > fileSize - 8) throw loadError(source, `header length ${n} runs past the end of the file (${fileSize} bytes)`);
  return n;
}

const MAX_JSON_DEPTH = 64; // the engine's JsonParseOptions::max_depth

/**
 * What JSON.parse hides but the engine's parser (native/src/io/json.cpp) rejects: duplicate keys at any depth,
 * nesting deeper than 64, and numbers written with a fraction or exponent where an integer is required (recorded
 * as "tensor\0field\0index" for the arrays inside a tensor entry: shape and data_offsets). Runs on text JSON.parse
 * has already accepted, so it only tracks structure.
 */
function scanHeader(text: string): { problem?: string; fractional: Set<string> } {
  type Frame = { object: boolean; keys: Set<string>; key: string; index: number; expectKey: boolean };
  const stack: Frame[] = [];
  const fractional = new Set<string>();
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const top = stack[stack.length - 1];
    if (c === "{" || c === "[") {
      stack.push({ object: c === "{", keys: new Set(), key: "", index: 0, expectKey: c === "{" });
      if (stack.length > MAX_JSON_DEPTH) return { problem: `nesting deeper than ${MAX_JSON_DEPTH}`, fractional };
      i++;
    } else if (c === "}" || c === "]") {
      stack.pop();
      i++;
    } else if (c === ",") {
      if (top!.object) top!.expectKey = true;
      else top!.index++;
      i++;
    } else if (c === ":") {
      top!.expectKey = false;
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (top?.object && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { problem: `duplicate key ${JSON.stringify(key)}`, fractional };
        top.keys.add(key);
        top.key = key;
      }
      i = j + 1;
    } else if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
    } else {
      let j = i;
      while (j < text.length && !",]} \t\n\r".includes(text[j]!)) j++;
      if (/[.eE]/.test(text.slice(i, j)) && stack.length === 3 && !top!.object) {
        fractional.add(`${stack[0]!.key}\0${stack[1]!.key}\0${top!.index}`);
      }
      i = j;
    }
  }
  return { fractional };
}

/** The header text parsed into an object, with the engine's JSON rules (see scanHeader). */
function parseHeaderJson(text: string, source: string): { header: Record<string, unknown>; fractional: Set<string> } {
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw loadError(source, `the header is not valid JSON (${(e as Error).message})`);
  }
  const { problem, fractional } = scanHeader(text);
  if (problem) throw loadError(source, `the header is not valid JSON (${problem})`);
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw loadError(source, `the header is a JSON ${jsonKind(header)}, expected an object`);
  }
  return { header: header as Record<string, unknown>, fractional };
}

interface HeaderEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** One tensor entry, checked in the engine's order (native/src/io/safetensors.cpp parse_entry) with its messages. */
function parseEntry(name: string, entry: unknown, dataBytes: number, fractional: Set<string>, source: string): HeaderEntry {
  const where = `tensor "${name}"`;
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    throw loadError(source, `${where} is described by a JSON ${jsonKind(entry)}, expected an object`);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (dtype === undefined) throw loadError(source, `${where} has no dtype`);
  if (typeof dtype !== "string") throw loadError(source, `${where} has a non-string dtype`);
  if (!isDType(dtype)) throw loadError(source, `${where} has unknown dtype ${JSON.stringify(dtype)}`);
  if (shape === undefined) throw loadError(source, `${where} has no shape`);
  if (!Array.isArray(shape)) throw loadError(source, `${where} has a shape that is not an array`);
  shape.forEach((d, i) => {
    if (!isNonNegativeInteger(d) || fractional.has(`${name}\0shape\0${i}`)) {
      throw loadError(source, `${where} has an invalid shape: dimension ${i} is ${JSON.stringify(d)} (must be a non-negative integer)`);
    }
  });
  if (offsets === undefined) throw loadError(source, `${where} has no data_offsets`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger) ||
      fractional.has(`${name}\0data_offsets\0${0}`) || fractional.has(`${name}\0data_offsets\0${1}`)) {
    throw loadError(source, `${where} has data_offsets ${JSON.stringify(offsets)}, expected [begin, end] as two non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw loadError(source, `${where} has data_offsets [${begin}, ${end}] with begin > end`);
  if (end > dataBytes) {
    throw loadError(source, `${where} has data_offsets [${begin}, ${end}] past the end of the data section (${dataBytes} bytes)`);
  }
  const needed = numel(shape) * DTYPE_BYTES[dtype];
  if (end - begin !== needed) {
    const need = Number.isSafeInteger(needed) ? String(needed) : "more than 2^53";
    throw loadError(source, `${where} has ${end - begin} bytes but shape [${shape.join(", ")}] of ${dtype} needs ${need}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/**
 * The safetensors layout rule (as the reference implementation enforces it): sorted by offset, the tensors tile
 * the data section exactly, with no overlap, no gap and no trailing bytes. A header length off by a few bytes
 * (which still parses when the header ends in padding) shifts every tensor; this is what catches it.
 */
function checkCoverage(entries: readonly HeaderEntry[], dataBytes: number, source: string): void {
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: HeaderEntry | undefined;
  for (const e of byOffset) {
    if (e.begin < cursor) {
      throw loadError(source, `tensors "${previous!.name}" and "${e.name}" overlap (bytes [${previous!.begin}, ${previous!.end}) and [${e.begin}, ${e.end}))`);
    }
    if (e.begin > cursor) throw loadError(source, `the data offsets leave bytes [${cursor}, ${e.begin}) unused before tensor "${e.name}"`);
    cursor = e.end;
    previous = e;
  }
  if (cursor !== dataBytes) {
    throw loadError(source, `the data offsets end at byte ${cursor} but the data section has ${dataBytes} bytes (a wrong header length or missing tensors)`);
  }
}

/**
 * Validates a header against the data section size; the rules and messages are the engine's
 * (test/fixtures/safetensors-cases.json runs against both readers).
 */
function parseHeader(text: string, dataBytes: number, source: string): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  const { header, fractional } = parseHeaderJson(text, source);
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (entry === null || typeof entry !== "object" || Array.isArray(entry)) throw loadError(source, "__metadata__ is not an object of strings");
      for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof value !== "string") {
          throw loadError(source, `__metadata__ must map strings to strings, but "${key}" is a ${jsonKind(value)}`);
        }
        metadata[key] = value;
      }
      continue;
    }
    entries.push(parseEntry(name, entry, dataBytes, fractional, source));
  }
  checkCoverage(entries, dataBytes, source);
  return { entries, metadata };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeHeader(bytes: Uint8Array, source: string): string {
  try {
    return utf8.decode(bytes);
  } catch (e) {
    throw loadError(source, `the header is not valid JSON (${(e as Error).message})`);
  }
}

/** Parses and validates a whole safetensors image held in memory. `source` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, source = "<buffer>"): SafetensorsContent {
  if (bytes.byteLength < 8) throw loadError(source, `the file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = checkedHeaderLength(view.getBigUint64(0, true), bytes.byteLength, source);
  const dataStart = 8 + n;
  const { entries, metadata } = parseHeader(decodeHeader(bytes.subarray(8, dataStart), source), bytes.byteLength - dataStart, source);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const t of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    // Copy into a fresh buffer: keeps the result aligned for its element type and independent of `bytes`.
    const copy = Uint8Array.prototype.slice.call(bytes, dataStart + t.begin, dataStart + t.end); // Buffer#slice would be a view
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data: typedArrayFor(t.dtype, copy.buffer) });
  }
  return { tensors, metadata };
}

/**
 * Opens `path` for reading without ever blocking (O_NONBLOCK: opening a FIFO would otherwise wait for a writer)
 * and insists on a regular file (a FIFO, a device such as /dev/zero, a directory would never end or has no
 * size), then runs `body` with the descriptor and the size. Every failure is ERR_MODEL_LOAD naming the path.
 */
function withRegularFile<T>(path: string, body: (fd: number, size: number) => T): T {
  let fd: number | undefined;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw loadError(path, "not a regular file");
    return body(fd, stat.size);
  } catch (e) {
    if (e instanceof DittoError) throw e;
    throw new DittoError("ERR_MODEL_LOAD", `Cannot read safetensors file ${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Reads exactly `length` bytes at `position` (readSync may return fewer); a short file is ERR_MODEL_LOAD. */
function readExactly(fd: number, length: number, position: number, path: string): Buffer {
  const out = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const got = readSync(fd, out, done, length - done, position + done);
    if (got === 0) throw loadError(path, `the file ended after ${position + done} bytes while reading (it changed while being read?)`);
    done += got;
  }
  return out;
}

/** The validated header of an open regular file: reads only the 8-byte length and the header (bounded reads). */
function readHeaderOf(fd: number, size: number, path: string): { headerLength: number; text: string } {
  if (size < 8) throw loadError(path, `the file is ${size} bytes, shorter than the 8-byte header length`);
  const headerLength = checkedHeaderLength(readExactly(fd, 8, 0, path).readBigUInt64LE(0), size, path);
  return { headerLength, text: decodeHeader(readExactly(fd, headerLength, 8, path), path) };
}

/**
 * Reads and validates a .safetensors file: the file type and size first, then the length field and the header
 * (bounded reads), and only then the data section the header describes. Missing/unreadable files, non-regular
 * files and every malformed header are ERR_MODEL_LOAD naming the path.
 */
export function readSafetensors(path: string): SafetensorsContent {
  return withRegularFile(path, (fd, size) => {
    const { headerLength, text } = readHeaderOf(fd, size, path);
    const dataStart = 8 + headerLength;
    const { entries, metadata } = parseHeader(text, size - dataStart, path);
    const tensors = new Map<string, SafetensorsTensor>();
    for (const t of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      // Each tensor gets its own buffer: aligned for its element type.
      const data = readExactly(fd, t.end - t.begin, dataStart + t.begin, path);
      const copy = new Uint8Array(t.end - t.begin);
      copy.set(data);
      tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data: typedArrayFor(t.dtype, copy.buffer) });
    }
    return { tensors, metadata };
  });
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

/** Tensor names, dtypes and shapes of a file without reading its data (for family detection); same checks as readSafetensors. */
export function readSafetensorsHeader(path: string): Map<string, { dtype: SafetensorsDType; shape: number[] }> {
  return withRegularFile(path, (fd, size) => {
    const { headerLength, text } = readHeaderOf(fd, size, path);
    const { entries } = parseHeader(text, size - 8 - headerLength, path);
    return new Map(entries.map((e) => [e.name, { dtype: e.dtype, shape: e.shape }]));
  });
}

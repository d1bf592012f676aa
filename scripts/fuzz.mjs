#!/usr/bin/env node
// Fuzzing of everything a user can hand Ditto (issue 24, item 1): safetensors headers and data, dit.json /
// config.json, cache / guidance SPEC strings, generate() options, tensor and forward arguments, and `ditto generate`
// flags. Each case mutates a valid input (flipped bytes, truncations, huge or negative header lengths, out-of-range
// and overlapping offsets, wrong dtypes, deep or huge JSON, NaN/Inf weights, absurd sizes such as depth 1e9 or a
// hidden size not divisible by the heads) and must either work or fail with a typed error: DittoError with an ERR_*
// code, TypeError or RangeError, whose message names the file for file inputs. Cases run in batches, each batch in a
// child process, so a crash (a signal, an abort, an exit without a report) or a hang is counted and attributed to
// its case instead of hiding the rest; the next child starts after the crashing case.
//
//   node scripts/fuzz.mjs --cases 100000 --batch 2000 --seed 1     # the full run (docs/reliability.md)
//   node scripts/fuzz.mjs --cases 2000 --batch 1000                # the CI subset (test/native/fuzz.test.ts)
//   node scripts/fuzz.mjs --first 50000 --cases 50000 --seed 1     # cases [50000, 100000) of the same run
//
// A progress line (cases done so far, crashes, hangs, failures) goes to stderr after each batch.
// Prints one JSON line: { first, cases, crashes, hangs, failures, byKind, crashCases, failureSamples, wallMs }; exits 1
// when any case crashed, hung or failed with an untyped error. Needs `npm run build` (dist/ and the addon).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const KINDS = ["safetensors", "config", "spec", "options", "tensor", "cli"];
// Share of cases per kind (per 1000). CLI cases spawn `node dist/cli.js`, so they are few.
const KIND_WEIGHTS = { safetensors: 330, config: 250, spec: 170, options: 122, tensor: 125, cli: 3 };
const ERROR_CODES = new Set(["ERR_INVALID_ARGUMENT", "ERR_MODEL_LOAD", "ERR_UNSUPPORTED_MODEL", "ERR_OUT_OF_MEMORY", "ERR_NUMERICS", "ERR_CUDA", "ERR_ABORTED", "ERR_DISPOSED"]);

function readFlags(argv) {
  const flags = { cases: 100000, batch: 2000, seed: 1, first: 0, child: false, start: 0, count: 0, timeoutS: 600, crashAt: -1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`fuzz: ${a} expects a non-negative integer`);
      return v;
    };
    if (a === "--cases") flags.cases = next();
    else if (a === "--batch") flags.batch = Math.max(1, next());
    else if (a === "--seed") flags.seed = next();
    else if (a === "--first") flags.first = next();
    else if (a === "--crash-at") flags.crashAt = next(); // self-test of the harness: case N aborts its process
    else if (a === "--timeout") flags.timeoutS = next();
    else if (a === "--child") {
      flags.child = true;
      flags.start = next();
      flags.count = next();
    } else throw new Error(`fuzz: unknown flag ${a}`);
  }
  return flags;
}

// ---- deterministic randomness: case i of seed s always does the same thing --------------------------------------
function rngFor(seed, index) {
  let a = (Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (r, n) => Math.floor(r() * n);
const pick = (r, list) => list[int(r, list.length)];

function kindOf(seed, index) {
  const r = rngFor(seed ^ 0x5bd1e995, index);
  let x = int(r, 1000);
  for (const kind of KINDS) {
    x -= KIND_WEIGHTS[kind];
    if (x < 0) return kind;
  }
  return KINDS[0];
}

// ---- the valid inputs the cases mutate -----------------------------------------------------------------------------
// A tiny official-layout DiT (facebookresearch/DiT names): loads in well under a millisecond, so most of the time goes
// to the mutations, not to packing weights.
const TINY = { input_size: 8, patch_size: 4, in_channels: 3, hidden_size: 8, depth: 2, num_heads: 2, mlp_ratio: 4.0, class_dropout_prob: 0.1, num_classes: 3, learn_sigma: false };

function tinyTensors() {
  const D = TINY.hidden_size, C = TINY.in_channels, p = TINY.patch_size, T = (TINY.input_size / p) ** 2, M = D * TINY.mlp_ratio;
  const shapes = {
    "x_embedder.proj.weight": [D, C, p, p], "x_embedder.proj.bias": [D], pos_embed: [1, T, D],
    "t_embedder.mlp.0.weight": [D, 256], "t_embedder.mlp.0.bias": [D], "t_embedder.mlp.2.weight": [D, D], "t_embedder.mlp.2.bias": [D],
    "y_embedder.embedding_table.weight": [TINY.num_classes + 1, D],
    "final_layer.adaLN_modulation.1.weight": [2 * D, D], "final_layer.adaLN_modulation.1.bias": [2 * D],
    "final_layer.linear.weight": [p * p * C, D], "final_layer.linear.bias": [p * p * C],
  };
  for (let i = 0; i < TINY.depth; i++) {
    const b = `blocks.${i}.`;
    Object.assign(shapes, {
      [`${b}attn.qkv.weight`]: [3 * D, D], [`${b}attn.qkv.bias`]: [3 * D], [`${b}attn.proj.weight`]: [D, D], [`${b}attn.proj.bias`]: [D],
      [`${b}mlp.fc1.weight`]: [M, D], [`${b}mlp.fc1.bias`]: [M], [`${b}mlp.fc2.weight`]: [D, M], [`${b}mlp.fc2.bias`]: [D],
      [`${b}adaLN_modulation.1.weight`]: [6 * D, D], [`${b}adaLN_modulation.1.bias`]: [6 * D],
    });
  }
  const r = rngFor(7, 7);
  const tensors = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let k = 0; k < data.length; k++) data[k] = (r() - 0.5) * 0.2;
    tensors[name] = { dtype: "F32", shape, data };
  }
  return tensors;
}

function tinyConfig() {
  return { model: "facebookresearch/DiT models.DiT (fuzz tiny)", kwargs: { ...TINY }, labels: { num_classes: TINY.num_classes, null_label: TINY.num_classes } };
}

// ---- mutations ----------------------------------------------------------------------------------------------------
const NASTY_NUMBERS = [0, -1, 1, 2, 3, -0, 0.5, 1.5, 1e9, -1e9, 1e300, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 63, 2 ** 64, 1048577, 7, 1e-300];
const NASTY_JSON = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "null", "true", "[]", "{}", '""', '"8"', "[8]", "0.0", "1e9", "-0", "18446744073709551616", "9007199254740993"];
const DTYPES = ["F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "f32", "", "X", "F32 "];

function nastyValue(r) {
  const roll = int(r, 6);
  if (roll === 0) return pick(r, NASTY_NUMBERS);
  if (roll === 1) return pick(r, ["", "a", "F32", "NaN", "1e9", "\u0000", "x".repeat(1 + int(r, 300))]);
  if (roll === 2) return pick(r, [null, true, false, [], {}, [1, 2], { a: 1 }]);
  if (roll === 3) return -int(r, 100);
  if (roll === 4) return int(r, 100000);
  return r() * 1e6 - 5e5;
}

function deepJson(depth, open, close) {
  return open.repeat(depth) + "1" + close.repeat(depth);
}

function mutateSafetensors(r, valid) {
  const bytes = Buffer.from(valid);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8"));
  const data = bytes.subarray(8 + headerLength);
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  const rebuild = (h, body = data) => {
    const text = Buffer.from(typeof h === "string" ? h : JSON.stringify(h));
    const out = Buffer.alloc(8 + text.length + body.length);
    out.writeBigUInt64LE(BigInt(text.length), 0);
    text.copy(out, 8);
    Buffer.from(body).copy(out, 8 + text.length);
    return out;
  };
  switch (int(r, 16)) {
    case 0: { // flipped bytes, mostly in the header
      const n = 1 + int(r, 8);
      for (let i = 0; i < n; i++) {
        const at = r() < 0.7 ? int(r, 8 + headerLength) : int(r, bytes.length);
        bytes[at] ^= 1 << int(r, 8);
      }
      return { bytes, what: "flipped bytes" };
    }
    case 1: return { bytes: bytes.subarray(0, int(r, bytes.length)), what: "truncated" };
    case 2: { // header length: huge, negative as int64, zero, off by a few
      const choices = [2n ** 64n - 1n, 2n ** 63n, 2n ** 63n + 5n, 0n, 1n, BigInt(headerLength + 1 + int(r, 64)), BigInt(Math.max(0, headerLength - 1 - int(r, 64))), 100n * 1024n * 1024n + 1n, BigInt(bytes.length)];
      bytes.writeBigUInt64LE(pick(r, choices), 0);
      return { bytes, what: "header length" };
    }
    case 3: { // offsets out of range, reversed, overlapping, non-integer, negative
      const h = structuredClone(header);
      const name = pick(r, names);
      const [b, e] = h[name].data_offsets;
      const other = h[pick(r, names)].data_offsets;
      h[name].data_offsets = pick(r, [[b, e + 4], [e, b], [other[0], other[1]], [b - 4, e - 4], [-1, e], [b, data.length + 4 * (1 + int(r, 1000))], [b + 0.5, e], [b, 2 ** 64], ["0", e], [b], null, [b, e, 1]]);
      return { bytes: rebuild(h), what: "data offsets" };
    }
    case 4: { // wrong or unknown dtypes
      const h = structuredClone(header);
      h[pick(r, names)].dtype = pick(r, DTYPES);
      return { bytes: rebuild(h), what: "dtype" };
    }
    case 5: { // shapes: negative, huge, fractional, empty, wrong element count
      const h = structuredClone(header);
      const t = h[pick(r, names)];
      t.shape = pick(r, [[-1], [2 ** 62, 2 ** 62], [1.5], [], [0], [...t.shape, 2], t.shape.map((d) => d * 2), [2 ** 53 + 1], ["8"], null, t.shape.slice(1), [1e9, 1e9, 1e9]]);
      return { bytes: rebuild(h), what: "shape" };
    }
    case 6: { // a tensor removed, renamed or duplicated
      const h = structuredClone(header);
      const name = pick(r, names);
      const roll = int(r, 3);
      if (roll === 0) delete h[name];
      else if (roll === 1) { h[`${name}x`] = h[name]; delete h[name]; }
      else h["blocks.99.attn.qkv.weight"] = h[name];
      return { bytes: rebuild(h), what: "tensor set" };
    }
    case 7: { // header JSON that is not what it should be
      const text = pick(r, ["[]", "null", "1", '"x"', "{", '{"a":}', deepJson(10000 + int(r, 200000), "[", "]"), deepJson(10000, '{"a":', "}"),
        `{"__metadata__": ${JSON.stringify({ k: "v".repeat(1 + int(r, 5000)) })}}`, `{"__metadata__": {"k": 1}}`, JSON.stringify(header).replace(/"F32"/, '"F32","dtype":"F16"'),
        JSON.stringify(header) + " ".repeat(int(r, 16)), JSON.stringify(header).slice(0, -1 - int(r, 40))]);
      return { bytes: rebuild(text), what: "header JSON" };
    }
    case 8: { // NaN / Inf weights
      const out = Buffer.from(bytes);
      const n = 1 + int(r, 4);
      for (let i = 0; i < n; i++) out.writeFloatLE(pick(r, [NaN, Infinity, -Infinity]), 8 + headerLength + 4 * int(r, data.length / 4));
      return { bytes: out, what: "non-finite weights" };
    }
    case 9: return { bytes: Buffer.concat([bytes, Buffer.alloc(1 + int(r, 64))]), what: "trailing bytes" };
    case 10: return { bytes: Buffer.alloc(int(r, 16)), what: "tiny file" };
    case 11: { // a field replaced by an arbitrary value
      const h = structuredClone(header);
      const t = h[pick(r, names)];
      t[pick(r, ["dtype", "shape", "data_offsets", "extra"])] = nastyValue(r);
      return { bytes: rebuild(h), what: "field value" };
    }
    case 12: { // every offset shifted (a gap at the start)
      const h = structuredClone(header);
      const shift = 4 * (1 + int(r, 8));
      for (const name of names) h[name].data_offsets = h[name].data_offsets.map((o) => o + shift);
      return { bytes: rebuild(h, Buffer.concat([Buffer.alloc(shift), data])), what: "shifted offsets" };
    }
    case 13: { // header length pointing into the data, garbage header bytes
      const out = Buffer.from(bytes);
      for (let i = 0; i < 32; i++) out[8 + int(r, headerLength)] = int(r, 256);
      return { bytes: out, what: "garbage header bytes" };
    }
    case 14: { // huge header claimed, tiny file
      const out = Buffer.alloc(8 + int(r, 64));
      out.writeBigUInt64LE(BigInt(1 + int(r, 2 ** 40)), 0);
      return { bytes: out, what: "header beyond the file" };
    }
    default: { // a valid file, to keep the success path in the mix
      return { bytes, what: "valid" };
    }
  }
}

function mutateConfig(r) {
  const json = tinyConfig();
  const keys = Object.keys(TINY);
  switch (int(r, 12)) {
    case 0: json.kwargs[pick(r, keys)] = nastyValue(r); return { text: JSON.stringify(json), what: "kwarg value" };
    case 1: json.kwargs.depth = pick(r, [1e9, 2 ** 20, 2 ** 20 + 1, 1e18, -5, 0, 1.5]); return { text: JSON.stringify(json), what: "depth" };
    case 2: json.kwargs.hidden_size = pick(r, [9, 7, 10, 1e9, 2 ** 20, 12]); return { text: JSON.stringify(json), what: "hidden size / heads" };
    case 3: { // numbers JSON cannot hold exactly, or literals it does not allow
      const text = JSON.stringify(json).replace(`"${pick(r, keys)}":`, (m) => `${m}${pick(r, NASTY_JSON)},"_was":`);
      return { text, what: "JSON literal" };
    }
    case 4: return { text: deepJson(100 + int(r, 20000), pick(r, ["[", '{"a":']), "]"), what: "deep JSON" };
    case 5: { const t = JSON.stringify({ ...json, big: "x".repeat(r() < 0.02 ? int(r, 20_000_000) : int(r, 100_000)) }); return { text: t, what: "huge JSON" }; }
    case 6: { // flipped bytes in the JSON text
      const bytes = Buffer.from(JSON.stringify(json, null, 1));
      for (let i = 0, n = 1 + int(r, 6); i < n; i++) bytes[int(r, bytes.length)] ^= 1 << int(r, 8);
      return { text: bytes, what: "flipped bytes" };
    }
    case 7: { const t = JSON.stringify(json); return { text: t.slice(0, int(r, t.length)), what: "truncated" }; }
    case 8: json.kwargs = nastyValue(r); return { text: JSON.stringify(json), what: "kwargs not an object" };
    case 9: { // the input grid: absurd sizes and non-divisible patches
      json.kwargs.input_size = pick(r, [2 ** 20, 1e9, 9, 7, 1]);
      json.kwargs.patch_size = pick(r, [1, 2, 4, 3, 2 ** 20]);
      return { text: JSON.stringify(json), what: "grid" };
    }
    case 10: json.kwargs.mlp_ratio = pick(r, [1e300, -4, 0, 1e-300, 1e8, 4.5]); return { text: JSON.stringify(json), what: "mlp_ratio" };
    default: return { text: JSON.stringify(json), what: "valid" };
  }
}

const CACHE_NAMES = ["none", "firstBlock", "dbCache", "teaCache", "magCache", "fora", "deltaDit", "taylorSeer", "easyCache", "nope", ""];
const CACHE_KEYS = ["threshold", "warmupSteps", "maxCachedSteps", "interval", "blocks", "order", "retainRatio", "frontBlocks", "zzz", ""];
const GUIDANCE_NAMES = ["cfg", "skipLayers", "pag", "apg", "cfgZero", "autoguidance", "nope", ""];
const GUIDANCE_KEYS = ["scale", "layers", "cfgScale", "start", "stop", "eta", "zzz", ""];

function randomSpec(r, names, keys) {
  const parts = [];
  for (let i = 0, n = int(r, 4); i < n; i++) {
    const value = pick(r, ["0.1", "-1", "NaN", "1e999", "3", "1.5", "", "a", "1;2", "2;x", "0x10", " 4 ", String(nastyValue(r))]);
    parts.push(`${pick(r, keys)}${r() < 0.9 ? "=" : ""}${value}`);
  }
  let spec = pick(r, names) + (parts.length || r() < 0.3 ? `:${parts.join(pick(r, [",", ",", ";", ",,"]))}` : "");
  if (r() < 0.2) { // raw byte damage
    const chars = [...spec];
    chars[int(r, chars.length + 1)] = String.fromCharCode(int(r, 0x3000));
    spec = chars.join("");
  }
  return spec;
}

// ---- one case -----------------------------------------------------------------------------------------------------
function classify(error, mustName) {
  if (error && (error.name === "TypeError" || error.name === "RangeError") && /^Expected |^Unknown |^Guidance method |^Cache policy |is not implemented/.test(error.message)) return "typed";
  if (error && error.constructor?.name === "DittoError" && ERROR_CODES.has(error.code)) {
    if (mustName && !mustName.some((name) => error.message.includes(name))) return `untyped: ${error.code} without the file name: ${error.message.slice(0, 300)}`;
    return "typed";
  }
  if (error && (error.name === "TypeError" || error.name === "RangeError")) return "typed";
  return `untyped: ${error?.constructor?.name ?? typeof error} ${String(error?.message ?? error).slice(0, 300)}`;
}

async function runCase(ditto, ctx, seed, index, kind) {
  const r = rngFor(seed, index);
  const dir = path.join(ctx.tmp, `c${index}`);
  try {
    if (kind === "safetensors") {
      const { bytes } = mutateSafetensors(r, ctx.validWeights);
      mkdirSync(dir);
      const weights = path.join(dir, "dit.safetensors");
      writeFileSync(weights, bytes);
      writeFileSync(path.join(dir, "dit.json"), JSON.stringify(tinyConfig()));
      let engine = "ok", reader = "ok";
      try {
        const model = await ditto.loadModel(dir, { threads: 1 });
        if (r() < 0.3) {
          const x = ditto.Tensor.zeros([1, 3, 8, 8]);
          (await model.forward(x, [500], [1])).dispose();
          x.dispose();
        }
        model.dispose();
      } catch (e) {
        engine = classify(e, [weights, dir]);
      }
      try {
        ditto.readSafetensors(weights);
      } catch (e) {
        reader = classify(e, [weights]);
      }
      return engine !== "ok" && engine !== "typed" ? engine : reader !== "ok" && reader !== "typed" ? `TS reader ${reader}` : engine;
    }
    if (kind === "config") {
      const { text } = mutateConfig(r);
      mkdirSync(dir);
      writeFileSync(path.join(dir, "dit.safetensors"), ctx.validWeights);
      const config = path.join(dir, r() < 0.5 ? "dit.json" : "config.json");
      writeFileSync(config, text);
      try {
        const model = await ditto.loadModel(dir, { threads: 1 });
        model.dispose();
        return "ok";
      } catch (e) {
        return classify(e, [config, dir]);
      }
    }
    if (kind === "spec") {
      const cache = r() < 0.5;
      const spec = cache ? randomSpec(r, CACHE_NAMES, CACHE_KEYS) : randomSpec(r, GUIDANCE_NAMES, GUIDANCE_KEYS);
      try {
        if (cache) ditto.parseCacheSpec(spec);
        else ditto.guiderFrom(spec);
        return "ok";
      } catch (e) {
        return classify(e);
      }
    }
    if (kind === "options") {
      const options = { classLabels: [1], steps: 2, seed: index };
      const keys = ["classLabels", "steps", "seed", "guidanceScale", "noise", "strength", "cache", "guidance", "scheduler", "signal", "onStep", "initImage", "mask", "bogus"];
      for (let i = 0, n = int(r, 3); i < n; i++) {
        const key = pick(r, keys);
        const roll = int(r, 5);
        options[key] = roll === 0 ? nastyValue(r)
          : key === "classLabels" ? pick(r, [[], [-1], [3], [4], [0.5], [NaN], [1, 2, 3], new Int32Array([2]), "1", [2 ** 31]])
          : key === "steps" ? pick(r, [0, -1, 1, 3, 1.5, NaN, Infinity, 1e9, 10001])
          : key === "seed" ? pick(r, [-1, 1.5, NaN, 2 ** 53, [1], [1, 2], "0", 2 ** 64])
          : key === "guidanceScale" ? pick(r, [-1, NaN, Infinity, 0, 4, 1e308])
          : key === "cache" || key === "guidance" ? randomSpec(r, key === "cache" ? CACHE_NAMES : GUIDANCE_NAMES, key === "cache" ? CACHE_KEYS : GUIDANCE_KEYS)
          : nastyValue(r);
      }
      try {
        const out = await ctx.pipe.generate(options);
        out.latents.dispose();
        return "ok";
      } catch (e) {
        return classify(e);
      }
    }
    if (kind === "tensor") {
      const model = ctx.model;
      // A valid call with one or two of its arguments replaced.
      let shape = [1, 3, 8, 8], t = [500], labels = [1];
      let dataDamage = 0, cfgScale = 4, skipBlocks = [0], blockScales;
      for (let i = 0, n = 1 + int(r, 2); i < n; i++) {
        const what = int(r, 6);
        if (what === 0) shape = pick(r, [[2, 3, 8, 8], [1, 3, 8], [1, 4, 8, 8], [1, 3, 9, 8], [0, 3, 8, 8], [1, 3, 16, 16], [1, 3, 4, 4], [1, 3, 8, 8, 1]]);
        else if (what === 1) t = pick(r, [[NaN], [-1], [1e9], [Infinity], [500, 500], [], ["5"], [0], [999.5]]);
        else if (what === 2) labels = pick(r, [[3], [4], [-1], [0.5], [NaN], [1, 1], [], [2 ** 31], ["1"]]);
        else if (what === 3) dataDamage = pick(r, [0.01, 0.5, 1]);
        else if (what === 4) cfgScale = pick(r, [NaN, -1, Infinity, 0, 1e30]);
        else { skipBlocks = pick(r, [[1], [5], [-1], [0.5], "0", [0, 0]]); blockScales = pick(r, [undefined, { 0: 2 }, { 9: 1 }, { 0: NaN }, { 1: -1e30 }]); }
      }
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = r() < dataDamage ? pick(r, [NaN, Infinity, -Infinity, 3e38]) : r() - 0.5;
      let x;
      try {
        x = ditto.Tensor.from(data, r() < 0.05 ? [n + 1] : shape);
        const call = int(r, 3);
        const out = call === 0 ? await model.forward(x, t, labels)
          : call === 1 ? await model.forwardWithCfg(x, t, labels, cfgScale)
          : (await model.forwardDetailed(x, t, labels, { skipBlocks, blockScales })).out;
        out.dispose();
        return "ok";
      } catch (e) {
        return classify(e);
      } finally {
        x?.dispose();
      }
    }
    // cli: `ditto generate` with random flags, in a child of its own (the CLI's exit codes and messages).
    const flags = ["--model", ctx.modelDir, "--out", path.join(dir, "out.png")];
    const options = ["--class", "--n", "--steps", "--cfg", "--seed", "--noise", "--threads", "--dtype", "--device", "--upscale", "--columns", "--grid", "--json", "--bogus", "--model", "--out"];
    const values = ["1", "0", "-1", "2", "1.5", "NaN", "1e9", "", "x", "3,1", "philox", "cpu", "cuda", "bf16", "99999999999999999999", "/nonexistent", "/dev/null"];
    for (let i = 0, n = int(r, 5); i < n; i++) flags.push(pick(r, options), ...(r() < 0.85 ? [pick(r, values)] : []));
    if (!flags.includes("--steps")) flags.push("--steps", "2");
    mkdirSync(dir);
    const { code, signal, stderr } = await new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(ROOT, "dist/cli.js"), "generate", ...flags], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d) => { stderr += d; });
      child.on("close", (code, signal) => resolve({ code, signal, stderr }));
    });
    if (signal) return `untyped: ditto generate ${flags.join(" ")} died of ${signal}`;
    if (code === 0) return "ok";
    if ((code === 64 || code === 1) && /^ditto generate: /.test(stderr) && !/\n\s+at /.test(stderr)) return "typed";
    return `untyped: ditto generate ${flags.join(" ")} exited ${code}: ${stderr.slice(0, 300)}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- child: runs [start, start + count), reporting the case it starts so a crash is attributed ---------------------
async function child(flags) {
  const ditto = await import(path.join(ROOT, "dist/index.js"));
  const tmp = mkdtempSync(path.join(tmpdir(), "ditto-fuzz-"));
  const modelDir = path.join(tmp, "model");
  mkdirSync(modelDir);
  ditto.writeSafetensors(path.join(modelDir, "dit.safetensors"), tinyTensors());
  writeFileSync(path.join(modelDir, "dit.json"), JSON.stringify(tinyConfig()));
  const { readFileSync } = await import("node:fs");
  const ctx = {
    tmp, modelDir,
    validWeights: readFileSync(path.join(modelDir, "dit.safetensors")),
    model: await ditto.loadModel(modelDir, { threads: 1 }),
    pipe: await ditto.Pipeline.load({ model: modelDir, threads: 1 }),
  };
  const byKind = Object.fromEntries(KINDS.map((k) => [k, { ok: 0, typed: 0, failed: 0, ms: 0 }]));
  const failureSamples = [];
  try {
    for (let i = flags.start; i < flags.start + flags.count; i++) {
      const kind = kindOf(flags.seed, i);
      process.stdout.write(`S ${i}\n`);
      const t0 = performance.now();
      if (i === flags.crashAt) process.abort();
      const outcome = await runCase(ditto, ctx, flags.seed, i, kind);
      byKind[kind].ms += performance.now() - t0;
      if (outcome === "ok" || outcome === "typed") byKind[kind][outcome] += 1;
      else {
        byKind[kind].failed += 1;
        if (failureSamples.length < 20) failureSamples.push({ case: i, kind, outcome });
      }
    }
  } finally {
    ctx.model.dispose();
    await ctx.pipe.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
  process.stdout.write(`R ${JSON.stringify({ byKind, failureSamples })}\n`);
}

// ---- parent: batches in children, crashes and hangs counted --------------------------------------------------------
function runChild(flags, start, count) {
  return new Promise((resolve) => {
    const args = [fileURLToPath(import.meta.url), "--child", String(start), String(count), "--seed", String(flags.seed)];
    if (flags.crashAt >= 0) args.push("--crash-at", String(flags.crashAt));
    const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "", timedOut = false;
    const timer = setTimeout(() => { timedOut = true; proc.kill("SIGKILL"); }, flags.timeoutS * 1000);
    proc.stdout.on("data", (d) => { out += d; });
    proc.stderr.on("data", (d) => { err = (err + d).slice(-4000); });
    proc.on("close", (code, signal) => {
      clearTimeout(timer);
      const lines = out.trimEnd().split("\n");
      const report = lines.find((l) => l.startsWith("R "));
      const started = lines.filter((l) => l.startsWith("S ")).map((l) => Number(l.slice(2)));
      resolve({ code, signal, timedOut, report: report ? JSON.parse(report.slice(2)) : undefined, last: started.length ? started[started.length - 1] : start - 1, stderr: err });
    });
  });
}

async function parent(flags) {
  const t0 = performance.now();
  const total = { first: flags.first, cases: flags.cases, crashes: 0, hangs: 0, failures: 0, byKind: Object.fromEntries(KINDS.map((k) => [k, { ok: 0, typed: 0, failed: 0, crashed: 0, ms: 0 }])), crashCases: [], failureSamples: [] };
  const end = flags.first + flags.cases;
  let next = flags.first;
  const progress = () => process.stderr.write(`fuzz: ${next - flags.first}/${flags.cases} cases, ${total.crashes} crashes, ${total.hangs} hangs, ${total.failures} failures, ${Math.round((performance.now() - t0) / 1000)} s\n`);
  while (next < end) {
    const count = Math.min(flags.batch, end - next);
    const result = await runChild(flags, next, count);
    if (result.report && result.code === 0) {
      for (const [kind, c] of Object.entries(result.report.byKind)) {
        total.byKind[kind].ok += c.ok;
        total.byKind[kind].typed += c.typed;
        total.byKind[kind].failed += c.failed;
        total.byKind[kind].ms += Math.round(c.ms);
        total.failures += c.failed;
      }
      for (const s of result.report.failureSamples) if (total.failureSamples.length < 20) total.failureSamples.push(s);
      next += count;
      progress();
      continue;
    }
    if (result.last < next && !result.timedOut && !result.signal) {
      // It failed before its first case: a setup error (no build, a broken install), not a finding.
      process.stderr.write(`fuzz: the child failed before its first case (exit ${result.code}):\n${result.stderr}\n`);
      process.exit(2);
    }
    // The child died (or hung) in case `last`: count it, keep what ran before it by running the rest again.
    const bad = Math.max(result.last, next);
    const kind = kindOf(flags.seed, bad);
    if (result.timedOut) total.hangs += 1;
    else total.crashes += 1;
    total.byKind[kind].crashed += 1;
    if (total.crashCases.length < 20) total.crashCases.push({ case: bad, kind, signal: result.signal, code: result.code, timedOut: result.timedOut, stderr: result.stderr.slice(-600) });
    // Cases before `bad` in this batch are re-run by a fresh child (their counts were lost with the report).
    if (bad > next) {
      const before = await runChild(flags, next, bad - next);
      if (before.report && before.code === 0) {
        for (const [k, c] of Object.entries(before.report.byKind)) {
          total.byKind[k].ok += c.ok;
          total.byKind[k].typed += c.typed;
          total.byKind[k].failed += c.failed;
          total.failures += c.failed;
        }
      }
    }
    next = bad + 1;
    progress();
  }
  total.wallMs = Math.round(performance.now() - t0);
  process.stdout.write(`${JSON.stringify(total)}\n`);
  process.exitCode = total.crashes + total.hangs + total.failures === 0 ? 0 : 1;
}

const flags = readFlags(process.argv.slice(2));
if (flags.child) await child(flags);
else await parent(flags);

// Loads the ditto.node addon and types its surface. The addon is found with node-gyp-build from the package root
// (build/Release when built in the repo, else prebuilds/<platform>-<arch>/ditto-dit.napi.node from the npm tarball),
// which works from src/ (vitest), dist/*.js (ESM) and dist/*.cjs alike. DITTO_ADDON_PATH=<file.node> overrides it.
// Native errors carry `code`; toDittoError() turns them into DittoError so user code can rely on instanceof.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { DittoError, DITTO_ERROR_CODES, type DittoErrorCode } from "./errors.js";
import type { ModelTensorSpec } from "./modelInputs.js";

export interface NativeTensor {
  shape(): number[];
  toFloat32Array(): Float32Array;
  clone(): NativeTensor;
  reshape(shape: number[]): NativeTensor;
  slice(begin: number, end: number): NativeTensor;
  lerp(other: NativeTensor, w: number): NativeTensor;
  binary(other: NativeTensor, op: "add" | "sub" | "mul"): NativeTensor;
  scale(s: number): NativeTensor;
  countNonFinite(): number;
  /** Per sample of dim 0: [dot, |this|, |other|] × B. */
  dotNorm(other: NativeTensor): Float32Array;
  /** Where the tensor's memory is: 'cpu' or 'cuda:N' (docs/cuda.md, "Device tensors"). */
  device(): string;
  dispose(): void;
  disposed(): boolean;
}

export interface NativeTensorStatic {
  fromFloat32(data: Float32Array, shape: number[]): NativeTensor;
  zeros(shape: number[]): NativeTensor;
  concat(list: NativeTensor[]): NativeTensor;
  combine(coefficients: number[], tensors: NativeTensor[]): NativeTensor;
}

export interface NativeModelConfig {
  family: "dit";
  layout: "official" | "diffusers";
  inputSize: number;
  patchSize: number;
  inChannels: number;
  outChannels: number;
  hiddenSize: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  numClasses: number;
  learnSigma: boolean;
  freqShift: number;
  normEps: number;
  ffNormEps: number;
  /** The JSON file the architecture was read from. */
  configPath: string;
  /** The constructor kwargs as written in that JSON (not part of model.config). */
  kwargsJson: string;
  /** The model's specs (model.info, not part of model.config). */
  inputs: ModelTensorSpec[];
  conditions: ModelTensorSpec[];
  outputs: ModelTensorSpec[];
  blockLists: { name: string; count: number }[];
}

export interface NativeBlockAction {
  kind: "compute" | "skip" | "scale" | "perturbAttention" | "reuse" | "forecast";
  alpha?: number;
  spanEnd?: number;
  storeEnd?: number;
}

export interface NativeStepBranch {
  key?: string;
  labels?: Int32Array;
  conditions?: Record<string, NativeTensor>;
  actions?: NativeBlockAction[][];
  signals?: { block: number; kind: "input" | "residual" | "forecastError" | "residualNorm"; end?: number; order?: number }[];
  firstBlockCache?: NativeFirstBlockCache;
}

export interface NativeFirstBlockCache {
  probeEnd: number;
  threshold: number;
  restEnd?: number;
  probe?: "residual" | "input";
  coefficients?: number[];
  accumulated?: number[];
  scale?: number[];
}

export interface NativeStepRequest {
  branches: NativeStepBranch[];
  epilogue?: { branchWeights: number[]; anchor?: number; a: number; c: number; extras?: NativeTensor[]; extraWeights?: number[] };
  returnBranchOutputs?: boolean;
  sharePrefixes?: boolean;
  cacheBudgetBytes?: number;
  countNonFinite?: boolean;
  abort?: NativeAbortFlag;
}

export interface NativeStepResult {
  branchOutputs: NativeTensor[];
  guided?: NativeTensor;
  next?: NativeTensor;
  signals: Float32Array[];
  cacheHits: Uint8Array[];
  macs: number;
  macsUncached: number;
  slotBytes: number;
  blocksComputed: number;
  blocksReused: number;
  nextNonFinite?: number;
}

export interface NativeSession {
  step(x: NativeTensor, t: Float32Array, request: NativeStepRequest): Promise<NativeStepResult>;
  end(): Promise<void>;
  /** Drops the handle's hold on the session and its model (queued jobs keep theirs); later calls throw ERR_DISPOSED. */
  release(): void;
  slotBytes(): number;
}

export interface NativeForwardOptions {
  conditions?: Record<string, NativeTensor>;
  capture?: boolean;
  blocks?: NativeBlockAction[];
  abort?: NativeAbortFlag;
  cfgScale?: number;
  guidedChannels?: number;
}

export interface NativeForwardResult {
  out: NativeTensor;
  intermediates: Record<string, NativeTensor>;
}

export interface NativeModel {
  config(): NativeModelConfig;
  forward(x: NativeTensor, t: Float32Array, labels: Int32Array | undefined, options?: NativeForwardOptions): Promise<NativeForwardResult>;
  /** MACs of one sample's forward per backbone part (blocks: the transformer blocks without their adaLN
   * projections, which run in the prelude). */
  macsPerSample(): { total: number; prelude: number; blocks: number; final: number };
  /** The device the engine loaded the model on. */
  device(): string;
  session(): NativeSession;
  /** A copy of a host tensor on the model's device (one counted upload on CUDA; a host copy on the CPU). */
  upload(tensor: NativeTensor): NativeTensor;
  threads(): number;
  /** Bytes the model holds: weights, tables and the workspace of the largest batch so far. */
  memoryBytes(): number;
  dispose(): void;
}

/** The AutoencoderKL's architecture (bindings/vae_binding.cpp). */
export interface NativeVaeConfig {
  family: "autoencoder-kl";
  /** Checkpoint key names: diffusers, or the original latent-diffusion ones ("ldm"). */
  layout: "diffusers" | "ldm";
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  blockOutChannels: number[];
  layersPerBlock: number;
  normNumGroups: number;
  scalingFactor: number;
  shiftFactor: number;
  useQuantConv: boolean;
  usePostQuantConv: boolean;
  midBlockAddAttention: boolean;
  /** Image pixels per latent pixel along each side: 2^(levels − 1). */
  downscale: number;
  weightsPath: string;
}

export interface NativeVaeResult {
  out?: NativeTensor;
  mean?: NativeTensor;
  logvar?: NativeTensor;
  intermediates: Record<string, NativeTensor>;
}

export interface NativeVae {
  config(): NativeVaeConfig;
  encode(image: NativeTensor, options: { abort?: NativeAbortFlag; capture?: boolean }): Promise<NativeVaeResult>;
  decode(latents: NativeTensor, options: { abort?: NativeAbortFlag; capture?: boolean }): Promise<NativeVaeResult>;
  threads(): number;
  memoryBytes(): number;
  dispose(): void;
}

export interface NativeAbortFlag {
  abort(): void;
  aborted(): boolean;
}

export interface NativeInfo {
  isa: string;
  supportedIsas: string[];
  cpu: string;
  features: Record<string, boolean>;
  defaultThreads: number;
  napiVersion: number;
}

/** probeDevice(spec)'s answer (bindings/device_binding.cpp). */
export interface NativeDeviceProbe {
  device: string;
  kind: "cpu" | "cuda";
  index: number;
  description: string;
  reason: string;
  /** CUDA: the backend library's ABI version (1: device queries only, 2: runs models); 0 for the CPU. */
  abi: number;
}

/** The CUDA backend's counted host↔device copies (activations and device tensors, not weights). */
export interface NativeTransferCounts {
  hostToDeviceCopies: number;
  hostToDeviceBytes: number;
  deviceToHostCopies: number;
  deviceToHostBytes: number;
}

export interface NativeAddon {
  NativeTensor: NativeTensorStatic;
  AbortFlag: new () => NativeAbortFlag;
  loadModel(path: string, options: { threads?: number; dtype?: "f32" | "bf16"; device?: string; checkFinite?: boolean }): Promise<NativeModel>;
  loadVae(path: string, options: { threads?: number; dtype?: "f32" | "bf16"; checkFinite?: boolean }): Promise<NativeVae>;
  info(): NativeInfo;
  setIsa(isa: string | null): string;
  /** V8's external-memory counter for this isolate (bytes), which tensors and models move (bindings/external_memory.h). */
  externalMemory(): number;
  /** The engine's allocation counters (native/include/ditto/memory.h), process-wide. */
  memory(): { allocatedBytes: number; peakBytes: number; allocations: number; liveBlocks: number; cachedBytes: number };
  resetPeakMemory(): void;
  /** A peak tracker's id (-1 when all are in use); endPeakTracking returns its high-water mark in bytes. */
  beginPeakTracking(): number;
  endPeakTracking(id: number): number;
  probeDevice(spec: string): NativeDeviceProbe;
  describeDevices(): string;
  cudaTransferCounts(): NativeTransferCounts;
  errorCodes: Record<string, number>;
  /** A batch's Gaussian noise [samples, countPerSample], generated off the JS thread (keys: low, high word per seed). */
  gaussianNoise(kind: "philox" | "reference", keys: Uint32Array, countPerSample: number): Promise<NativeTensor>;
  /** Model-space images [N, C, H, W] → interleaved u8 NHWC pixels, converted off the JS thread. */
  toUint8NHWC(images: NativeTensor): Promise<Uint8Array>;
  /** The best rank-`rank` approximation of a row-major out×in matrix (ditto/low_rank.h), off the JS thread. */
  truncateRank(w: Float32Array, out: number, inp: number, rank: number): Promise<Float32Array>;
}

function moduleDir(): string {
  // tsup's shims provide __dirname in ESM output and import.meta.url in CJS output; vitest provides both.
  if (typeof __dirname === "string") return __dirname;
  return path.dirname(fileURLToPath(import.meta.url));
}

/** The directory of the ditto-dit package.json above this module (repo root, or node_modules/ditto-dit). */
export function packageRoot(): string {
  let dir = moduleDir();
  for (;;) {
    const candidate = path.join(dir, "package.json");
    if (existsSync(candidate)) {
      try {
        if (JSON.parse(readFileSync(candidate, "utf8")).name === "ditto-dit") return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`Cannot find the ditto-dit package root above ${moduleDir()}`);
    dir = parent;
  }
}

let addon: NativeAddon | undefined;

/** The ditto.node file native() loads: DITTO_ADDON_PATH, else node-gyp-build's pick from the package root. Worker
 * threads that load the addon themselves use it too (the addon is context-aware: one instance per environment). */
export function addonPath(): string {
  const override = process.env.DITTO_ADDON_PATH;
  if (override) return path.resolve(override);
  const require = createRequire(path.join(moduleDir(), "noop.js"));
  const build = require("node-gyp-build") as { resolve(dir: string): string };
  return build.resolve(packageRoot());
}

export function native(): NativeAddon {
  if (addon) return addon;
  addon = createRequire(path.join(moduleDir(), "noop.js"))(addonPath()) as NativeAddon;
  return addon;
}

export function packageVersion(): string {
  return JSON.parse(readFileSync(path.join(packageRoot(), "package.json"), "utf8")).version as string;
}

/** A native error (Error with an ERR_* code) as a DittoError; TypeError/RangeError and others pass through. */
export function toDittoError(error: unknown): unknown {
  if (error instanceof DittoError) return error;
  if (error instanceof Error && !(error instanceof TypeError) && !(error instanceof RangeError)) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && (DITTO_ERROR_CODES as readonly string[]).includes(code)) {
      return new DittoError(code as DittoErrorCode, error.message);
    }
  }
  return error;
}

/** Runs a synchronous native call, converting its errors. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toDittoError(e);
  }
}

// loadVae() and Vae: the KL autoencoder of latent diffusion (diffusers AutoencoderKL; native/include/ditto/vae.h),
// with encode / decode as Promises on the VAE's own native job queue (like a Model: never on the JS thread) and an
// AbortSignal checked between blocks. No scaling happens inside encode / decode — as diffusers, pipelines use
// toLatents (z = (mean − shift)·scale) and fromLatents (z/scale + shift) with the config's factors.
// decodeImages turns denoiser latents [B, C, h, w] into Images; decodeVideo decodes video latents [B, C, F, h, w]
// frame by frame (a 2-D VAE per frame; 3-D video VAEs such as Wan's are refused at load) with progress.
import { linkAbortSignal } from "./abortLink.js";
import { brandClass } from "./brand.js";
import { disposedError, rangeError, shapeError, typeError, withCallerStack } from "./errors.js";
import { Image } from "./images/image.js";
import { callNative, native, toDittoError, type NativeTensor, type NativeVae, type NativeVaeConfig } from "./native.js";
import { Tensor } from "./tensor.js";
import { storedWeightsDType, weightsFile } from "./io/checkpointDType.js";

/** The weights file names the engine prefers in a VAE folder (vae_kl_config.cpp). */
const VAE_WEIGHTS = ["model.safetensors", "diffusion_pytorch_model.safetensors"] as const;
import { capThreads, MAX_THREADS } from "./threads.js";

export interface LoadVaeOptions {
  /** Worker threads for the VAE's kernels (default: the machine's cores, or DITTO_NUM_THREADS). */
  threads?: number;
  /** Convolution weights' dtype: 'f32' (reference) or 'bf16'. Default: the checkpoint's (a bf16 checkpoint stays
   * bf16, src/io/checkpointDType.ts); 'f32' widens it. vae.dtype says which was used. */
  dtype?: "f32" | "bf16";
  /** Reject NaN/Inf weights (ERR_MODEL_LOAD naming the tensor). Default true. */
  checkFinite?: boolean;
}

export type VaeConfig = Omit<NativeVaeConfig, "weightsPath">;

export interface VaeRunOptions {
  /** Aborting rejects with DittoError AbortError / ERR_ABORTED (checked between blocks). */
  signal?: AbortSignal;
  /** Return named intermediates (diffusers module paths, e.g. "decoder.mid_block.out"). */
  capture?: boolean;
}

export interface VaeEncodeResult {
  /** Posterior mean [B, latentChannels, H/f, W/f] (unscaled). */
  mean: Tensor;
  /** Posterior log-variance, clamped to [−30, 20]. */
  logvar: Tensor;
  intermediates: Record<string, Tensor>;
}

export interface VideoProgress {
  /** Frames decoded so far (all samples), and the total. */
  done: number;
  total: number;
}

export interface DecodeVideoOptions {
  signal?: AbortSignal;
  onProgress?: (progress: VideoProgress) => void;
}

function checkOptions(options: unknown): LoadVaeOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object") throw typeError("object", "options", options);
  const { threads, dtype, checkFinite } = options as LoadVaeOptions;
  if (threads !== undefined && (!Number.isSafeInteger(threads) || threads < 1 || threads > MAX_THREADS)) {
    throw rangeError(`integer between 1 and ${MAX_THREADS}`, "options.threads", threads);
  }
  if (dtype !== undefined && dtype !== "f32" && dtype !== "bf16") throw typeError("'f32' or 'bf16'", "options.dtype", dtype);
  if (checkFinite !== undefined && typeof checkFinite !== "boolean") throw typeError("boolean", "options.checkFinite", checkFinite);
  return { threads: capThreads(threads, "options.threads"), dtype, checkFinite };
}

/**
 * Loads an AutoencoderKL from a folder (config.json + model.safetensors, diffusion_pytorch_model.safetensors or the
 * only *.safetensors — a Hub repo's `vae/` folder) or a .safetensors file with config.json beside it. Diffusers and
 * original latent-diffusion key names; a video VAE (AutoencoderKLWan, …) rejects with ERR_UNSUPPORTED_MODEL.
 */
export async function loadVae(path: string, options?: LoadVaeOptions): Promise<Vae> {
  const callSite = new Error();
  if (typeof path !== "string" || path.length === 0) throw typeError("non-empty string", "path", path);
  const checked = checkOptions(options);
  try {
    const dtype = checked.dtype ?? storedWeightsDType(weightsFile(path, VAE_WEIGHTS, ["io.safetensors"])) ?? "f32";
    const handle = await native().loadVae(path, { ...checked, dtype });
    return new Vae(handle, path, dtype);
  } catch (e) {
    throw withCallerStack(toDittoError(e) as Error, callSite.stack);
  }
}

export class Vae implements Disposable {
  #native: NativeVae | undefined;
  readonly #config: VaeConfig;
  readonly path: string;
  /** The weights file the VAE was read from. */
  readonly weightsPath: string;
  /** The dtype the convolution weights are held and computed in. */
  readonly dtype: "f32" | "bf16";

  /** @internal use loadVae() */
  constructor(handle: NativeVae, path: string, dtype: "f32" | "bf16" = "f32") {
    this.#native = handle;
    this.path = path;
    this.dtype = dtype;
    const { weightsPath, ...config } = handle.config();
    this.weightsPath = weightsPath;
    this.#config = Object.freeze({ ...config, blockOutChannels: Object.freeze([...config.blockOutChannels]) as number[] });
  }

  get config(): VaeConfig {
    this.#live();
    return this.#config;
  }

  get disposed(): boolean {
    return this.#native === undefined;
  }

  get threads(): number {
    return callNative(() => this.#live().threads());
  }

  /** Native bytes the packed weights hold. */
  get memoryBytes(): number {
    return callNative(() => this.#live().memoryBytes());
  }

  /** image [B, inChannels, H, W] in [−1, 1] → the posterior (mean, clamped logvar), unscaled. */
  async encode(image: Tensor, options: VaeRunOptions = {}): Promise<VaeEncodeResult> {
    const callSite = new Error();
    try {
      const c = this.#live() && this.#config;
      this.#checkInput(image, "image", c.inChannels, "inChannels");
      const result = await this.#run(image, options, true);
      return { mean: Tensor._wrap(result.mean!), logvar: Tensor._wrap(result.logvar!), intermediates: wrapAll(result.intermediates) };
    } catch (e) {
      throw withCallerStack(toDittoError(e) as Error, callSite.stack);
    }
  }

  /** latents [B, latentChannels, h, w] (unscaled) → image [B, outChannels, h·f, w·f], about [−1, 1]. */
  async decode(latents: Tensor, options: VaeRunOptions = {}): Promise<Tensor> {
    return (await this.decodeDetailed(latents, options)).out;
  }

  /** decode() with the intermediates when options.capture is set. */
  async decodeDetailed(latents: Tensor, options: VaeRunOptions = {}): Promise<{ out: Tensor; intermediates: Record<string, Tensor> }> {
    const callSite = new Error();
    try {
      const c = this.#live() && this.#config;
      this.#checkInput(latents, "latents", c.latentChannels, "latentChannels");
      const result = await this.#run(latents, options, false);
      return { out: Tensor._wrap(result.out!), intermediates: wrapAll(result.intermediates) };
    } catch (e) {
      throw withCallerStack(toDittoError(e) as Error, callSite.stack);
    }
  }

  /** Denoiser-space latents from a posterior mean (or sample): (z − shiftFactor)·scalingFactor. */
  toLatents(mean: Tensor): Tensor {
    const c = this.config;
    return (c.shiftFactor === 0 ? mean : mean.sub(constant(mean.shape, c.shiftFactor))).scale(c.scalingFactor);
  }

  /** VAE-space latents from denoiser latents: z/scalingFactor + shiftFactor. */
  fromLatents(latents: Tensor): Tensor {
    const c = this.config;
    const unscaled = latents.scale(1 / c.scalingFactor);
    return c.shiftFactor === 0 ? unscaled : unscaled.add(constant(latents.shape, c.shiftFactor));
  }

  /** Denoiser latents [B, C, h, w] → one Image per sample (fromLatents, decode, [−1, 1] → u8 off the JS thread). */
  async decodeImages(latents: Tensor, options: { signal?: AbortSignal } = {}): Promise<Image[]> {
    if (!(latents instanceof Tensor)) throw typeError("Tensor", "latents", latents);
    const pixels = await this.decode(this.fromLatents(latents), { signal: options.signal });
    return Image.fromTensor(pixels);
  }

  /**
   * Denoiser video latents [B, C, F, h, w] → frames[sample][frame], each frame decoded on its own by this 2-D VAE
   * (valid for latents whose frames are independent 2-D latents; Wan's own 3-D causal VAE is not supported).
   */
  async decodeVideo(latents: Tensor, options: DecodeVideoOptions = {}): Promise<Image[][]> {
    if (!(latents instanceof Tensor)) throw typeError("Tensor", "latents", latents);
    const shape = latents.shape;
    const c = this.config;
    if (shape.length !== 5 || shape[1] !== c.latentChannels || shape.some((d) => d < 1)) {
      throw shapeError(`shape [B, ${c.latentChannels}, F, h, w] with every size >= 1`, "latents", shape);
    }
    if (options.onProgress !== undefined && typeof options.onProgress !== "function") {
      throw typeError("function", "options.onProgress", options.onProgress);
    }
    const [batch, channels, frames, h, w] = shape as [number, number, number, number, number];
    const values = latents.toFloat32Array();
    const plane = h * w;
    const out: Image[][] = [];
    for (let b = 0; b < batch; b++) {
      const frameImages: Image[] = [];
      for (let f = 0; f < frames; f++) {
        const frame = new Float32Array(channels * plane);
        for (let ch = 0; ch < channels; ch++) {
          const src = ((b * channels + ch) * frames + f) * plane;
          frame.set(values.subarray(src, src + plane), ch * plane);
        }
        const [image] = await this.decodeImages(Tensor.from(frame, [1, channels, h, w]), { signal: options.signal });
        frameImages.push(image!);
        options.onProgress?.({ done: b * frames + f + 1, total: batch * frames });
      }
      out.push(frameImages);
    }
    return out;
  }

  /** Releases the weights (idempotent); queued work still completes, later calls reject ERR_DISPOSED. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #live(): NativeVae {
    if (!this.#native) throw disposedError("VAE");
    return this.#native;
  }

  #checkInput(x: unknown, name: string, channels: number, channelName: string): void {
    if (!(x instanceof Tensor)) throw typeError("Tensor", name, x);
    const shape = x.shape;
    if (shape.length !== 4 || shape[1] !== channels || shape.some((d) => d < 1)) {
      throw shapeError(`shape [B, ${channels} (${channelName}), H, W] with B, H, W >= 1`, name, shape);
    }
  }

  async #run(x: Tensor, options: VaeRunOptions, encode: boolean) {
    if (options === null || typeof options !== "object") throw typeError("object", "options", options);
    if (options.capture !== undefined && typeof options.capture !== "boolean") throw typeError("boolean", "options.capture", options.capture);
    const handle = this.#live();
    const link = linkAbortSignal(options.signal, "options.signal");
    try {
      const request = { abort: link.flag, capture: options.capture === true };
      return encode ? await handle.encode(x._handle("image"), request) : await handle.decode(x._handle("latents"), request);
    } finally {
      link.release();
    }
  }
}

function wrapAll(record: Record<string, NativeTensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, value] of Object.entries(record)) out[name] = Tensor._wrap(value);
  return out;
}

function constant(shape: readonly number[], value: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.from(new Float32Array(n).fill(value), shape);
}

brandClass(Vae, "Vae");

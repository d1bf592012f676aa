// Tensor: the public handle on a native float32 tensor (row-major; images [B, C, H, W]). Data stays in native
// memory; toFloat32Array() copies out. Tensors are immutable from JS: every op returns a new Tensor, computed
// natively (no per-element JS loops). Arguments are checked here, before the native call, with messages of the
// form "Expected <what> for <name> but received <value>" (docs/architecture.md, "Errors"). Using a disposed tensor throws
// DittoError ERR_DISPOSED synchronously.
import { brandClass } from "./brand.js";
import { disposedError, rangeError, shapeError, typeError } from "./errors.js";
import { backstop, forget } from "./lifecycle.js";
import { callNative, native, type NativeTensor } from "./native.js";

function checkShape(shape: unknown, name = "shape"): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)) {
    throw typeError("array of non-negative integers", name, shape);
  }
  return [...shape] as number[];
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function checkFinite(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) throw typeError("finite number", name, value);
  return value;
}

export class Tensor {
  #native: NativeTensor | undefined;
  #shape: readonly number[];

  private constructor(handle: NativeTensor, shape: readonly number[]) {
    this.#native = handle;
    this.#shape = Object.freeze([...shape]);
    backstop(this, "tensors", handle);
  }

  /** @internal Wraps a native tensor handle (used by the model bindings). */
  static _wrap(handle: NativeTensor): Tensor {
    return new Tensor(handle, handle.shape());
  }

  /** @internal The native handle; throws ERR_DISPOSED when disposed. */
  _handle(name = "tensor"): NativeTensor {
    if (!this.#native) throw disposedError(`Tensor (${name})`);
    return this.#native;
  }

  /** A tensor holding a copy of `data` with the given shape (data.length must equal the product of shape). */
  static from(data: Float32Array, shape: readonly number[]): Tensor {
    if (!(data instanceof Float32Array)) throw typeError("Float32Array", "data", data);
    const dims = checkShape(shape);
    if (product(dims) !== data.length) {
      throw new RangeError(`Expected data of length ${product(dims)} for shape [${dims.join(", ")}] but received length ${data.length}`);
    }
    return new Tensor(callNative(() => native().NativeTensor.fromFloat32(data, dims)), dims);
  }

  static zeros(shape: readonly number[]): Tensor {
    const dims = checkShape(shape);
    return new Tensor(callNative(() => native().NativeTensor.zeros(dims)), dims);
  }

  /** Concatenation along dim 0; every tensor must have the same trailing dimensions. */
  static concat(tensors: readonly Tensor[]): Tensor {
    if (!Array.isArray(tensors) || tensors.length === 0 || !tensors.every((t) => t instanceof Tensor)) {
      throw typeError("non-empty array of Tensor", "tensors", tensors);
    }
    const first = tensors[0]!.shape;
    if (first.length === 0) throw shapeError("tensors with at least 1 dimension", "tensors[0]", first);
    tensors.forEach((t, i) => {
      const s = t.shape;
      if (s.length !== first.length || s.some((d, k) => k > 0 && d !== first[k])) {
        throw new RangeError(`Expected shape [${[s[0] ?? 0, ...first.slice(1)].join(", ")}] for tensors[${i}] but received [${s.join(", ")}]`);
      }
    });
    const handles = tensors.map((t, i) => t._handle(`tensors[${i}]`));
    return Tensor._wrap(callNative(() => native().NativeTensor.concat(handles)));
  }

  /** Σ cⱼ·tⱼ over [[c₀, t₀], [c₁, t₁], …], accumulated left to right in float32. */
  static combine(terms: ReadonlyArray<readonly [number, Tensor]>): Tensor {
    if (!Array.isArray(terms) || terms.length === 0) throw typeError("non-empty array of [number, Tensor]", "terms", terms);
    const coefficients: number[] = [];
    const handles: NativeTensor[] = [];
    let shape: readonly number[] | undefined;
    terms.forEach((term, i) => {
      if (!Array.isArray(term) || term.length !== 2 || !(term[1] instanceof Tensor)) {
        throw typeError("[number, Tensor]", `terms[${i}]`, term);
      }
      coefficients.push(checkFinite(term[0], `terms[${i}][0]`));
      const t = term[1];
      shape ??= t.shape;
      if (!sameShape(shape, t.shape)) throw shapeError(`shape [${shape.join(", ")}]`, `terms[${i}][1]`, t.shape);
      handles.push(t._handle(`terms[${i}][1]`));
    });
    return new Tensor(callNative(() => native().NativeTensor.combine(coefficients, handles)), shape!);
  }

  get shape(): number[] {
    return [...this.#shape];
  }

  /** Number of elements. */
  get size(): number {
    return product(this.#shape);
  }

  get ndim(): number {
    return this.#shape.length;
  }

  get disposed(): boolean {
    return this.#native === undefined;
  }

  /** Where the data lives: 'cpu', or 'cuda:N' for a tensor a CUDA model made (ops run there; mixing devices throws
   * ERR_INVALID_ARGUMENT; toFloat32Array() copies back). */
  get device(): "cpu" | `cuda:${number}` {
    return callNative(() => this._handle().device()) as "cpu" | `cuda:${number}`;
  }

  toFloat32Array(): Float32Array {
    return callNative(() => this._handle().toFloat32Array());
  }

  clone(): Tensor {
    return new Tensor(callNative(() => this._handle().clone()), this.#shape);
  }

  /** Same data, new shape with the same number of elements. */
  reshape(shape: readonly number[]): Tensor {
    const dims = checkShape(shape);
    if (product(dims) !== this.size) {
      throw new RangeError(`Expected shape with ${this.size} elements for shape but received [${dims.join(", ")}]`);
    }
    return new Tensor(callNative(() => this._handle().reshape(dims)), dims);
  }

  /** Rows [begin, end) along dim 0, copied. */
  slice(begin: number, end: number = this.#shape[0] ?? 0): Tensor {
    const rows = this.#shape[0];
    if (rows === undefined) throw shapeError("a tensor with at least 1 dimension", "slice", this.shape);
    if (!Number.isSafeInteger(begin) || begin < 0 || begin > rows) throw rangeError(`integer between 0 and ${rows}`, "begin", begin);
    if (!Number.isSafeInteger(end) || end < begin || end > rows) throw rangeError(`integer between ${begin} and ${rows}`, "end", end);
    return new Tensor(callNative(() => this._handle().slice(begin, end)), [end - begin, ...this.#shape.slice(1)]);
  }

  /** this + w·(other − this). */
  lerp(other: Tensor, w: number): Tensor {
    this.#checkOther(other);
    const weight = checkFinite(w, "w");
    return new Tensor(callNative(() => this._handle().lerp(other._handle("other"), weight)), this.#shape);
  }

  add(other: Tensor): Tensor {
    return this.#binary(other, "add");
  }

  sub(other: Tensor): Tensor {
    return this.#binary(other, "sub");
  }

  mul(other: Tensor): Tensor {
    return this.#binary(other, "mul");
  }

  /** How many elements are NaN or ±Infinity (one native vectorised pass; the pipeline checks latents with it). */
  countNonFinite(): number {
    return callNative(() => this._handle().countNonFinite());
  }

  /**
   * Per sample (dim 0): ⟨this_s, other_s⟩, ‖this_s‖₂ and ‖other_s‖₂ over the sample's elements, accumulated in float64,
   * computed where the tensors are (on a GPU one reduction; only these 3·B numbers come to the host).
   */
  dotNorm(other: Tensor): { dot: Float32Array; norm: Float32Array; otherNorm: Float32Array } {
    this.#checkOther(other);
    const packed = callNative(() => this._handle().dotNorm(other._handle("other")));
    const batch = packed.length / 3;
    const pick = (k: number) => Float32Array.from({ length: batch }, (_, s) => packed[3 * s + k]!);
    return { dot: pick(0), norm: pick(1), otherNorm: pick(2) };
  }

  scale(s: number): Tensor {
    const factor = checkFinite(s, "s");
    return new Tensor(callNative(() => this._handle().scale(factor)), this.#shape);
  }

  /** Frees the native memory now (idempotent); later use throws ERR_DISPOSED. */
  dispose(): void {
    if (!this.#native) return;
    forget(this);
    this.#native.dispose();
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor([${this.#shape.join(", ")}]${this.disposed ? ", disposed" : ""})`;
  }

  #checkOther(other: unknown): asserts other is Tensor {
    if (!(other instanceof Tensor)) throw typeError("Tensor", "other", other);
    // `other` may come from the other copy of the package (brand.ts): public members only.
    if (!sameShape(this.#shape, other.shape)) throw shapeError(`shape [${this.#shape.join(", ")}]`, "other", other.shape);
  }

  #binary(other: Tensor, op: "add" | "sub" | "mul"): Tensor {
    this.#checkOther(other);
    return new Tensor(callNative(() => this._handle().binary(other._handle("other"), op)), this.#shape);
  }
}

brandClass(Tensor, "Tensor");

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

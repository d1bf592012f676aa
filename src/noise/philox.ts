// Counter-based Gaussian noise: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11;
// the same round function and constants as Random123, cuRAND and PyTorch's CUDA generator) + Box–Muller.
//
// Ditto's noise contract (docs/architecture.md, "Conventions"): the noise of one sample depends only on (seed, count), never on the batch
// it is generated in, the device or the thread count. Layout, fixed forever because saved seeds must keep working:
// - key = (seed mod 2^32, floor(seed / 2^32)) for a seed in [0, 2^53) (any JS safe integer; bigint up to 2^64);
// - block j (j = 0, 1, …) encrypts the counter (j, stream, 0, 0) and yields four uint32 words x0..x3;
// - u1 = (x0 >>> 5 · 2^26 + x1 >>> 6) · 2^-53, u2 the same from (x2, x3): two 53-bit uniforms in [0, 1);
// - Box–Muller in float64: ρ = √(−2·ln(1 − u1)), z[2j] = ρ·cos(2π·u2), z[2j+1] = ρ·sin(2π·u2); cast to float32.
// V8's Math.log/cos/sin are fdlibm ports, so the values are identical on every platform Node runs on.

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;
const TWO_POW_32 = 4294967296;
const TWO_POW_MINUS_53 = 2 ** -53;

/** High 32 bits of the 64-bit product of two uint32 (exact: split into 16-bit halves, every partial fits a double). */
export function mulHi32(a: number, b: number): number {
  const aHi = a >>> 16, aLo = a & 0xffff, bHi = b >>> 16, bLo = b & 0xffff;
  const low = aLo * bLo;
  const crossA = aHi * bLo;
  const crossB = aLo * bHi;
  const middle = (low >>> 16) + (crossA & 0xffff) + (crossB & 0xffff);
  return (aHi * bHi + (crossA >>> 16) + (crossB >>> 16) + Math.floor(middle / 65536)) >>> 0;
}

/** Philox4x32 with 10 rounds: encrypts `counter` (4 words) under `key` (2 words) into `out`. */
export function philox4x32(counter: ArrayLike<number>, key0: number, key1: number, out: Uint32Array): void {
  let c0 = counter[0]! >>> 0, c1 = counter[1]! >>> 0, c2 = counter[2]! >>> 0, c3 = counter[3]! >>> 0;
  let k0 = key0 >>> 0, k1 = key1 >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulHi32(PHILOX_M0, c0), lo0 = Math.imul(PHILOX_M0, c0) >>> 0;
    const hi1 = mulHi32(PHILOX_M1, c2), lo1 = Math.imul(PHILOX_M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + PHILOX_W0) >>> 0;
    k1 = (k1 + PHILOX_W1) >>> 0;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/** Splits a seed into the two key words; rejects what cannot be a seed. */
export function philoxKey(seed: number | bigint): [number, number] {
  if (typeof seed === "bigint") {
    if (seed < 0n || seed >= 1n << 64n) throw new RangeError(`Expected integer between 0 and 2^64 - 1 for seed but received ${seed}`);
    return [Number(seed & 0xffffffffn), Number(seed >> 32n)];
  }
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`Expected non-negative safe integer for seed but received ${seed}`);
  }
  return [seed % TWO_POW_32, Math.floor(seed / TWO_POW_32)];
}

/** `count` standard normal float32 values for `seed` (see the file header for the exact layout). */
export function philoxGaussian(seed: number | bigint, count: number, stream = 0): Float32Array {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`Expected non-negative integer for count but received ${count}`);
  const [key0, key1] = philoxKey(seed);
  const out = new Float32Array(count);
  const words = new Uint32Array(4);
  const counter = [0, stream >>> 0, 0, 0];
  for (let block = 0; 2 * block < count; block++) {
    counter[0] = block;
    philox4x32(counter, key0, key1, words);
    const u1 = ((words[0]! >>> 5) * 67108864 + (words[1]! >>> 6)) * TWO_POW_MINUS_53;
    const u2 = ((words[2]! >>> 5) * 67108864 + (words[3]! >>> 6)) * TWO_POW_MINUS_53;
    const radius = Math.sqrt(-2 * Math.log(1 - u1));
    const angle = 2 * Math.PI * u2;
    out[2 * block] = radius * Math.cos(angle);
    if (2 * block + 1 < count) out[2 * block + 1] = radius * Math.sin(angle);
  }
  return out;
}

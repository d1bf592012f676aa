// The glyph fixture's portable evaluation noise (shared/fixtures/glyphs/README.md, "The evaluation protocol"):
// gaussian(seed, n) = splitmix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA'14)
// from state `seed`, r_i = mix(seed + i·0x9E3779B97F4A7C15) for i = 1, 2, …, then Box–Muller on pairs in float64,
// u = (r >> 11)·2^-53, ρ = √(−2·ln(1 − u[2m])), z[2m] = ρ·cos(2π·u[2m+1]), z[2m+1] = ρ·sin(2π·u[2m+1]), cast to float32.
// Reproduces the reference run's noise bit for bit. 64-bit arithmetic is done on (hi, lo) uint32 pairs: BigInt
// would be ~20× slower and the harness draws 3 M values per N = 1,000 run.
import { mulHi32 } from "./philox.js";

const GOLDEN_GAMMA_HI = 0x9e3779b9;
const GOLDEN_GAMMA_LO = 0x7f4a7c15;
const MIX1_HI = 0xbf58476d, MIX1_LO = 0x1ce4e5b9;
const MIX2_HI = 0x94d049bb, MIX2_LO = 0x133111eb;
const TWO_POW_32 = 4294967296;

/** Low 64 bits of a 64×64-bit product, on (hi, lo) pairs; writes into `out`. */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number, out: Uint32Array): void {
  out[0] = (mulHi32(aLo, bLo) + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) >>> 0;
  out[1] = Math.imul(aLo, bLo) >>> 0;
}

/** splitmix64's output function on z = (hi, lo); writes the result into `out` as (hi, lo). */
function mix64(hi: number, lo: number, out: Uint32Array): void {
  lo = (lo ^ ((lo >>> 30) | (hi << 2))) >>> 0; hi = (hi ^ (hi >>> 30)) >>> 0;
  mul64(hi, lo, MIX1_HI, MIX1_LO, out); hi = out[0]!; lo = out[1]!;
  lo = (lo ^ ((lo >>> 27) | (hi << 5))) >>> 0; hi = (hi ^ (hi >>> 27)) >>> 0;
  mul64(hi, lo, MIX2_HI, MIX2_LO, out); hi = out[0]!; lo = out[1]!;
  lo = (lo ^ ((lo >>> 31) | (hi << 1))) >>> 0; hi = (hi ^ (hi >>> 31)) >>> 0;
  out[0] = hi; out[1] = lo;
}

/** The fixture's gaussian(seed, count) as float32. `seed` is a uint64 (a non-negative safe integer or a bigint). */
export function referenceGaussian(seed: number | bigint, count: number): Float32Array {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`Expected non-negative integer for count but received ${count}`);
  let stateHi: number, stateLo: number;
  if (typeof seed === "bigint") {
    if (seed < 0n || seed >= 1n << 64n) throw new RangeError(`Expected integer between 0 and 2^64 - 1 for seed but received ${seed}`);
    stateHi = Number(seed >> 32n); stateLo = Number(seed & 0xffffffffn);
  } else {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`Expected non-negative safe integer for seed but received ${seed}`);
    stateHi = Math.floor(seed / TWO_POW_32); stateLo = seed % TWO_POW_32;
  }
  const out = new Float32Array(count);
  const word = new Uint32Array(2);
  const uniform = (): number => {
    // state += gamma (wrapping), then mix.
    const lo = stateLo + GOLDEN_GAMMA_LO;
    stateHi = (stateHi + GOLDEN_GAMMA_HI + (lo >= TWO_POW_32 ? 1 : 0)) >>> 0;
    stateLo = lo >>> 0;
    mix64(stateHi, stateLo, word);
    return (word[0]! * 2097152 + (word[1]! >>> 11)) * 2 ** -53; // (r >> 11) · 2^-53
  };
  for (let m = 0; 2 * m < count; m++) {
    const u1 = uniform();
    const u2 = uniform();
    const radius = Math.sqrt(-2 * Math.log(1 - u1));
    out[2 * m] = radius * Math.cos(2 * Math.PI * u2);
    if (2 * m + 1 < count) out[2 * m + 1] = radius * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

// A window of the sampling run as fractions of its steps (SLG's start / stop, as Stability's sd3.5 and diffusers
// give them). σ windows — the guidance interval — are in src/guidance/interval.ts.
import { rangeError } from "../errors.js";

export function checkWindowFraction(start: number, stop: number, what: string): void {
  for (const [key, v] of [["start", start], ["stop", stop]] as const) {
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) throw rangeError("number between 0 and 1", `${what}.${key}`, v);
  }
  if (!(start < stop)) throw rangeError(`number greater than start (${start})`, `${what}.stop`, stop);
}

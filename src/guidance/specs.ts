// The guidance methods a `--guidance SPEC` may name, with their parameters (names and parameters follow
// shared/research/guidance.md and the user-facing sketch of the product: Autoguidance.skipLayers({ layers, scale, cfgScale, start, stop }),
// …). Knowing a name here does not mean the engine runs it: src/guidance/policy.ts builds the Guiders that exist
// (today CFG) and refuses the others loudly.
import { parseSpec, type PolicySpec, type SpecTable } from "../policySpec.js";

export const GUIDANCE_SPECS: SpecTable = Object.freeze({
  cfg: { params: { scale: "number" } },
  skipLayers: { params: { layers: "integers", scale: "number", cfgScale: "number", start: "number", stop: "number" } },
  slg: { params: { layers: "integers", scale: "number", start: "number", stop: "number" } },
  pag: { params: { layers: "integers", scale: "number" } },
  stg: { params: { layers: "integers", scale: "number" } },
  apg: { params: { eta: "number", normThreshold: "number", momentum: "number" } },
  cfgZeroStar: { params: { zeroInitSteps: "integer" } },
  interval: { params: { start: "number", stop: "number" } },
});

/** `name[:key=value,…]` → a plain guidance policy object, checked against GUIDANCE_SPECS. */
export function parseGuidanceSpec(spec: string): PolicySpec {
  return parseSpec(spec, "guidance", GUIDANCE_SPECS);
}

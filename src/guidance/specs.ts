// The guidance methods a `--guidance SPEC` may name, with their parameters (docs/guidance.md, "SPEC grammar"; names
// and formulas follow shared/research/guidance.md). Every method also takes sigmaLo / sigmaHi: the guidance
// interval (src/guidance/interval.ts) limiting it to σ ∈ (sigmaLo, sigmaHi]. src/guidance/policy.ts builds them.
import { parseSpec, type PolicySpec, type SpecTable } from "../policySpec.js";

const WINDOW = { sigmaLo: "number", sigmaHi: "number" } as const;
/** A weak (or strong) perturbation: alpha (scale; 0 = skip) or attention=1 (self-attention output = V), over the
 * block range [from, to) as fractions of depth or over explicit layers. */
const PERTURBATION = { alpha: "number", attention: "integer", from: "number", to: "number", layers: "integers" } as const;
const prefixed = (prefix: string) => Object.fromEntries(Object.entries(PERTURBATION).map(([k, v]) => [prefix + k[0]!.toUpperCase() + k.slice(1), v]));

export const GUIDANCE_SPECS: SpecTable = Object.freeze({
  cfg: { params: { scale: "number" } },
  auto: { params: { cfgScale: "number" } },
  autoguidance: { params: { ...PERTURBATION, weakRank: "number", scale: "number", cfgScale: "number", refreshEvery: "integer", weakSigmaLo: "number", weakUncond: "integer", ...WINDOW } },
  skipLayers: { params: { layers: "integers", scale: "number", cfgScale: "number", ...WINDOW } },
  slg: { params: { layers: "integers", scale: "number", cfgScale: "number", start: "number", stop: "number", ...WINDOW } },
  stg: { params: { layers: "integers", scale: "number", cfgScale: "number", ...WINDOW } },
  pag: { params: { layers: "integers", scale: "number", cfgScale: "number", ...WINDOW } },
  apg: { params: { cfgScale: "number", eta: "number", normThreshold: "number", momentum: "number", ...WINDOW } },
  cfgZeroStar: { params: { cfgScale: "number", zeroInitSteps: "integer", ...WINDOW } },
  interval: { params: { scale: "number", ...WINDOW } },
  schedule: { params: { scale: "number", shape: "string", floor: "number", ...WINDOW } },
  strongWeak: { params: { ...prefixed("strong"), ...prefixed("weak"), scale: "number", cfgScale: "number", ...WINDOW } },
});

/** `name[:key=value,…]` → a plain guidance policy object, checked against GUIDANCE_SPECS. */
export function parseGuidanceSpec(spec: string): PolicySpec {
  return parseSpec(spec, "guidance", GUIDANCE_SPECS);
}

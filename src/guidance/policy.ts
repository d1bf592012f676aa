// Guidance methods from what a user or the CLI passes: a Guider object as is, a SPEC string (`cfg:scale=4`,
// `autoguidance:alpha=0.8,scale=2,cfgScale=4`) or a plain policy object ({ kind: "cfg", scale: 4 }, e.g. a toJSON()
// result; `Guidance.fromJSON`). Names and parameters are checked against GUIDANCE_SPECS; sigmaLo / sigmaHi limit any
// method to a σ interval (GuidanceInterval).
import { typeError } from "../errors.js";
import { checkSpecObject, type PolicySpec } from "../policySpec.js";
import { AdaptiveProjectedGuidance } from "./apg.js";
import { Autoguidance, perturbationFromSpec } from "./autoguidance.js";
import { ClassifierFreeGuidance } from "./cfg.js";
import { CfgZeroStar } from "./cfgZeroStar.js";
import type { Guider } from "./guider.js";
import { GuidanceInterval } from "./interval.js";
import { PerturbedAttentionGuidance } from "./pag.js";
import { ScheduledGuidance, type ScheduleShape } from "./schedule.js";
import { SkipLayerGuidance } from "./slg.js";
import { GUIDANCE_SPECS, parseGuidanceSpec } from "./specs.js";
import { StrongWeakGuidance } from "./strongWeak.js";

export function isGuider(value: unknown): value is Guider {
  return value !== null && typeof value === "object" && typeof (value as Guider).branches === "function"
    && typeof (value as Guider).combination === "function" && typeof (value as Guider).kind === "string";
}

function required(spec: PolicySpec, key: string): number {
  const v = spec[key];
  if (v === undefined) throw typeError("finite number", `guidance policy ${spec.kind}.${key}`, undefined);
  return v as number;
}

/** A 0 / 1 SPEC flag as a boolean (absent: undefined, the constructor's default). */
function flag(spec: PolicySpec, key: string): boolean | undefined {
  const v = spec[key];
  if (v === undefined) return undefined;
  if (v !== 0 && v !== 1) throw new RangeError(`Expected 0 or 1 for guidance policy ${spec.kind}.${key} but received ${v}`);
  return v === 1;
}

function sub(spec: PolicySpec, prefix: string): PolicySpec {
  const out: PolicySpec = { kind: `${spec.kind}.${prefix}` };
  for (const [k, v] of Object.entries(spec)) {
    if (k.startsWith(prefix) && k.length > prefix.length) out[k[prefix.length]!.toLowerCase() + k.slice(prefix.length + 1)] = v;
  }
  return out;
}

/** What a method without its own value takes from the caller: `auto`'s CFG scale (the generation's guidanceScale). */
export interface GuidanceDefaults {
  cfgScale?: number;
}

function build(spec: PolicySpec, defaults: GuidanceDefaults): Guider {
  const n = (k: string) => spec[k] as number | undefined;
  const layers = spec.layers as number[] | undefined;
  switch (spec.kind) {
    case "cfg": {
      const scale = required(spec, "scale");
      if (scale < 0) throw new RangeError(`Expected number >= 0 for guidance policy cfg.scale but received ${scale}`);
      return new ClassifierFreeGuidance({ scale });
    }
    case "interval": return new ClassifierFreeGuidance({ scale: required(spec, "scale") });
    case "auto": return Autoguidance.recommended({ cfgScale: n("cfgScale") ?? defaults.cfgScale });
    case "autoguidance":
      if (n("weakRank") !== undefined && ["alpha", "attention", "from", "to", "layers"].some((k) => spec[k] !== undefined)) {
        throw new RangeError("Expected either weakRank or a perturbation (alpha, attention, from, to, layers) for guidance policy autoguidance, not both");
      }
      return new Autoguidance({
        ...(n("weakRank") !== undefined ? { weakRank: n("weakRank") } : { weak: perturbationFromSpec(spec) }),
        scale: required(spec, "scale"), cfgScale: n("cfgScale"), refreshEvery: n("refreshEvery"), weakSigmaLo: n("weakSigmaLo"),
        weakUncond: flag(spec, "weakUncond"),
      });
    case "skipLayers":
      return Autoguidance.skipLayers({ layers: layers ?? [], scale: required(spec, "scale"), cfgScale: n("cfgScale") });
    case "slg": return SkipLayerGuidance.slg({ layers: layers!, scale: n("scale"), cfgScale: n("cfgScale"), start: n("start"), stop: n("stop") } as never);
    case "stg": return SkipLayerGuidance.stg({ layers: layers!, scale: n("scale"), cfgScale: n("cfgScale") } as never);
    case "pag": return new PerturbedAttentionGuidance({ layers, scale: n("scale"), cfgScale: n("cfgScale") });
    case "apg": return new AdaptiveProjectedGuidance({ cfgScale: required(spec, "cfgScale"), eta: n("eta"), momentum: n("momentum"), normThreshold: n("normThreshold") });
    case "schedule": return new ScheduledGuidance({ scale: required(spec, "scale"), shape: spec.shape as ScheduleShape | undefined, floor: n("floor") });
    case "cfgZeroStar": return new CfgZeroStar({ cfgScale: required(spec, "cfgScale"), zeroInitSteps: n("zeroInitSteps") });
    case "strongWeak":
      return new StrongWeakGuidance({
        strong: perturbationFromSpec(sub(spec, "strong")), weak: perturbationFromSpec(sub(spec, "weak")),
        scale: required(spec, "scale"), cfgScale: n("cfgScale"),
      });
    default:
      throw new RangeError(`Guidance method "${spec.kind}" is not implemented`);
  }
}

/** The Guider for a guidance option: a Guider, a SPEC string or a plain policy object. */
export function guiderFrom(value: Guider | PolicySpec | string, defaults: GuidanceDefaults = {}): Guider {
  if (isGuider(value)) return value;
  const spec = typeof value === "string" ? parseGuidanceSpec(value) : checkSpecObject(value, "guidance", GUIDANCE_SPECS);
  // Undefined parameters take the method's defaults (drop them so the constructors' defaults apply).
  const clean = Object.fromEntries(Object.entries(spec).filter(([, v]) => v !== undefined)) as PolicySpec;
  const guider = build(clean, defaults);
  if (clean.sigmaLo === undefined && clean.sigmaHi === undefined && clean.kind !== "interval") return guider;
  return GuidanceInterval.limit(guider, { sigmaLo: clean.sigmaLo as number | undefined, sigmaHi: clean.sigmaHi as number | undefined });
}

/** `Guidance.fromJSON(guider.toJSON())` gives an equal method back. */
export const Guidance = Object.freeze({
  fromJSON(value: PolicySpec | string): Guider {
    return guiderFrom(value);
  },
});

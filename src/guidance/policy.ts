// Guidance methods from what a user or the CLI passes: a Guider object as is, a SPEC string (`cfg:scale=4`) or a
// plain policy object ({ kind: "cfg", scale: 4 }, e.g. a toJSON() result). Names and parameters are checked against
// GUIDANCE_SPECS; the methods the engine does not run yet are refused here with a clear error instead of being
// silently ignored.
import { typeError } from "../errors.js";
import { checkSpecObject, type PolicySpec } from "../policySpec.js";
import { ClassifierFreeGuidance } from "./cfg.js";
import type { Guider } from "./guider.js";
import { GUIDANCE_SPECS, parseGuidanceSpec } from "./specs.js";

export function isGuider(value: unknown): value is Guider {
  return value !== null && typeof value === "object" && typeof (value as Guider).branches === "function"
    && typeof (value as Guider).combination === "function" && typeof (value as Guider).kind === "string";
}

/** The Guider for a guidance option: a Guider, a SPEC string or a plain policy object. */
export function guiderFrom(value: Guider | PolicySpec | string): Guider {
  if (isGuider(value)) return value;
  const spec = typeof value === "string" ? parseGuidanceSpec(value) : checkSpecObject(value, "guidance", GUIDANCE_SPECS);
  if (spec.kind === "cfg") {
    if (spec.scale === undefined) throw typeError("finite number", "guidance policy cfg.scale", undefined);
    if ((spec.scale as number) < 0) throw new RangeError(`Expected number >= 0 for guidance policy cfg.scale but received ${spec.scale}`);
    return new ClassifierFreeGuidance({ scale: spec.scale as number });
  }
  throw new RangeError(`Guidance method "${spec.kind}" is not implemented yet: use guidanceScale (plain CFG)`);
}

// `--guidance SPEC` together with `--cfg G` (shared/contracts.md; docs/guidance.md, "CLI"): the SPEC is parsed and
// built before any model loads (an unknown method or key is a usage error); with --cfg, G is the CFG scale inside
// any method that has a CFG term (the method's withCfgScale); without it the method keeps its own scales (`auto`
// the shipped ones). The CFG scale in effect is what the harness reports as `cfg` and what its comparison run (the
// run without the method, for psnr / ssim) uses.
import { guiderFrom } from "../guidance/policy.js";
import { parseGuidanceSpec } from "../guidance/specs.js";
import type { Guider } from "../guidance/guider.js";
import { formatSpec } from "../policySpec.js";
import { checkPolicies } from "../pipeline/options.js";
import { UsageError } from "./args.js";

export interface GuidanceChoice {
  /** The method as a canonical SPEC (with --cfg applied). */
  spec: string;
  guider: Guider;
  /** The CFG scale in effect: --cfg, else the method's own, else the fallback. */
  cfg: number;
}

export function guidanceChoice(spec: string, cfg: number | undefined, fallbackCfg: number): GuidanceChoice {
  let guider: Guider;
  try {
    checkPolicies({ guidance: parseGuidanceSpec(spec) });
    // `auto` takes its CFG scale from --cfg, else the model's recommended scale (the fallback), when it has one.
    guider = guiderFrom(spec, Number.isFinite(cfg ?? fallbackCfg) ? { cfgScale: cfg ?? fallbackCfg } : {});
  } catch (e) {
    throw new UsageError(`--guidance ${spec}: ${(e as Error).message}`);
  }
  if (cfg !== undefined) {
    if (!guider.withCfgScale) throw new UsageError(`--cfg ${cfg} with --guidance ${spec}: the method ${guider.kind} has no CFG term`);
    guider = guider.withCfgScale(cfg);
  }
  return { spec: formatSpec(guider.toJSON()), guider, cfg: guider.cfgScale ?? cfg ?? fallbackCfg };
}

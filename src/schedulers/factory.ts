// createScheduler(name, config): the schedulers by the names the pipeline and the CLI use. Configs take camelCase
// or diffusers' snake_case keys (a scheduler_config.json can be passed as is).
import { DdimScheduler } from "./ddim.js";
import { DitDdimScheduler } from "./ditDdim.js";
import { DpmSolverMultistepScheduler } from "./dpmSolverMultistep.js";
import { EulerDiscreteScheduler } from "./eulerDiscrete.js";
import { FlowMatchEulerScheduler } from "./flowMatchEuler.js";
import { UniPcScheduler } from "./unipc.js";
import type { Scheduler, SchedulerName } from "./types.js";

export const SCHEDULER_NAMES: readonly (SchedulerName | "dit-ddim")[] = ["flow-euler", "euler", "ddim", "dpm++2m", "unipc", "dit-ddim"];

export function createScheduler(name: SchedulerName | "dit-ddim", config: Record<string, unknown> = {}): Scheduler {
  switch (name) {
    case "flow-euler":
      return new FlowMatchEulerScheduler(config);
    case "euler":
      return new EulerDiscreteScheduler(config);
    case "ddim":
      return new DdimScheduler(config);
    case "dpm++2m":
      return new DpmSolverMultistepScheduler(config);
    case "unipc":
      return new UniPcScheduler(config);
    case "dit-ddim":
      return new DitDdimScheduler(config);
    default:
      throw new TypeError(`Expected one of ${SCHEDULER_NAMES.map((n) => JSON.stringify(n)).join(", ")} for scheduler but received ${JSON.stringify(name)}`);
  }
}

/**
 * The glyph fixture's reference sampler (shared/fixtures/glyphs/README.md): Euler on the flow ODE with uniform
 * sigmas σ_i = 1 − i/steps, t = 1000·σ, shift 1.
 */
export function createGlyphReferenceScheduler(): FlowMatchEulerScheduler {
  return new FlowMatchEulerScheduler({ shift: 1, sigmaSchedule: "uniform" });
}

/** Scheduler for a diffusers class name + config (e.g. a golden schedulers/<setting>.json). */
export function schedulerFromDiffusersClass(className: string, config: Record<string, unknown>): Scheduler {
  const cls = className.replace(/^diffusers\./, "");
  const map: Record<string, SchedulerName> = {
    FlowMatchEulerDiscreteScheduler: "flow-euler",
    EulerDiscreteScheduler: "euler",
    DDIMScheduler: "ddim",
    DPMSolverMultistepScheduler: "dpm++2m",
    UniPCMultistepScheduler: "unipc",
  };
  const name = map[cls];
  if (!name) throw new TypeError(`Expected one of ${Object.keys(map).join(", ")} for scheduler class but received ${JSON.stringify(className)}`);
  return createScheduler(name, config);
}

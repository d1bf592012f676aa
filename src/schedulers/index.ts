// Schedulers (diffusers' step contract; see docs/schedulers.md): flow-match Euler, Euler (ε), DDIM, DPM-Solver++ 2M,
// UniPC (flow, Wan2.1), DiT's respaced DDIM, and the factory used by the pipeline and the CLI.
export type { Scheduler, SchedulerName, StepOutput, TimestepsOptions } from "./types.js";
export { createScheduler, createGlyphReferenceScheduler, schedulerFromDiffusersClass, SCHEDULER_NAMES } from "./factory.js";
export { FlowMatchEulerScheduler, fluxMu, type FlowMatchEulerConfig } from "./flowMatchEuler.js";
export { EulerDiscreteScheduler, type EulerDiscreteConfig } from "./eulerDiscrete.js";
export { DdimScheduler, type DdimConfig } from "./ddim.js";
export { DpmSolverMultistepScheduler, type DpmSolverMultistepConfig } from "./dpmSolverMultistep.js";
export { UniPcScheduler, type UniPcConfig } from "./unipc.js";
export { DitDdimScheduler, spaceTimesteps, leadingChannels, type DitDdimConfig } from "./ditDdim.js";
export { applyLinearTerms, type LinearStep, type LinearTerms } from "./linear.js";

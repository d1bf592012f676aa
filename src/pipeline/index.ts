// The generation pipeline: Pipeline.load / generate, the reference flow-Euler sampler and the option types.
export { Pipeline, type PipelineLoadOptions, type GenerateResult, type GenerateStats, type RecommendedSettings, type Device } from "./pipeline.js";
export { UniformFlowEuler, type PipelineScheduler } from "./flow-euler.js";
export type { GenerateOptions, StepEvent } from "./options.js";

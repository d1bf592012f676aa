// The generation pipeline: Pipeline.load / generate, scheduler resolution and the option types.
export { Pipeline, type PipelineLoadOptions, type PipelineKind, type AnyPipeline, type GenerateResult, type GenerateStats, type RecommendedSettings, type Device } from "./pipeline.js";
export { resolveScheduler, type PipelineScheduler } from "./scheduler.js";
export type { GenerateOptions, StepEvent } from "./options.js";
export { LatentPipeline, type LatentPipelineLoadOptions, type LatentGenerateOptions, type LatentGenerateResult, type LatentConditions } from "./latent.js";

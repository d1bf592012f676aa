// ditto-dit: fast Diffusion Transformers from Node.js. Public entry point (ESM + CJS via tsup).
export { loadModel, Model } from "./model.js";
export type { LoadModelOptions, ModelConfig, ModelDType, ForwardDetailedOptions, ForwardDetailedResult } from "./model.js";
export { Session } from "./session.js";
export { loadVae, Vae } from "./vae.js";
export type { LoadVaeOptions, VaeConfig, VaeRunOptions, VaeEncodeResult, DecodeVideoOptions, VideoProgress } from "./vae.js";
export type { ModelInfo, ModelTensorSpec, ModelConditions, Labels } from "./modelInputs.js";
export type { SessionBlockAction, SessionBranch, SessionStepRequest, SessionStepResult } from "./session.js";
export { Tensor } from "./tensor.js";
export { chooseDevice, cudaTransferCounts } from "./device.js";
export type { DeviceSpec, DeviceChoice, DeviceName } from "./device.js";
export { DittoError, isDittoError } from "./errors.js";
export type { DittoErrorCode } from "./errors.js";
export { info } from "./info.js";
export { memory, resetPeakMemory } from "./memory.js";
export type { MemoryStats } from "./memory.js";
export { undisposedCollected } from "./lifecycle.js";
export type { DittoInfo } from "./info.js";
export { readSafetensors, writeSafetensors, parseSafetensors, encodeSafetensors } from "./io/safetensors.js";
export type { SafetensorsTensor, SafetensorsContent, SafetensorsDType, SafetensorsTensorInput } from "./io/safetensors.js";
export { verifyCase, verifyAll, registerVerifyFamily, registerOutputExtension } from "./verify/index.js";
export type { VerifyCaseResult, VerifyOutputResult, VerifyFamily, VerifyContext, OutputExtension } from "./verify/index.js";
export { Pipeline, LatentPipeline } from "./pipeline/index.js";
export type { LatentPipelineLoadOptions, LatentGenerateOptions, LatentGenerateResult, LatentConditions } from "./pipeline/index.js";
export type { PipelineLoadOptions, PipelineKind, AnyPipeline, GenerateOptions, GenerateResult, GenerateStats, StepEvent, PipelineScheduler, RecommendedSettings, Device } from "./pipeline/index.js";
export { Image, makeGrid, saveVideo } from "./images/index.js";
export type { GridOptions, SaveVideoOptions, SavedVideo } from "./images/index.js";
export { philoxGaussian, referenceGaussian, batchNoiseTensor } from "./noise/index.js";
export type { NoiseKind } from "./noise/index.js";
export { CachePolicy, CACHE_SPECS, parseCacheSpec } from "./cache/index.js";
export {
  ClassifierFreeGuidance, Autoguidance, SkipLayerGuidance, PerturbedAttentionGuidance, AdaptiveProjectedGuidance, CfgZeroStar,
  GuidanceInterval, ScheduledGuidance, StrongWeakGuidance, Guidance, combineBranches, affineCombination, linearGuidance, guiderFrom, GUIDANCE_SPECS,
  parseGuidanceSpec, loadLowRankModel, writeLowRankCheckpoint, lowRankContent, truncateRank,
} from "./guidance/index.js";
export type {
  Guider, GuidanceBranch, GuidanceCombination, NonlinearCombination, CombineContext, TensorCombineContext, GuidanceStep, BranchCondition, AutoguidanceOptions,
  Perturbation, PerturbationKind, SigmaWindow, GuidanceTerm, ScheduleOptions, ScheduleShape, DerivedModelSpec, GuidanceDefaults,
} from "./guidance/index.js";
export { frechetParts } from "./metrics/frechet.js";
export type { FrechetParts, GaussianStats } from "./metrics/frechet.js";
export { COMPUTE_ALL, blockPlan } from "./plan.js";
export type { BlockAction, BlockPlan } from "./plan.js";
export { formatSpec } from "./policySpec.js";
export type { PolicySpec } from "./policySpec.js";
export { runEval } from "./eval/harness.js";
export { benchCache, controlPsnrAt } from "./eval/cacheBench.js";
export type { CacheBenchRow, CacheBenchOptions } from "./eval/cacheBench.js";
export { QualityMeter } from "./eval/meter.js";
export { analyzeBlocks, heatmapImage } from "./eval/blocks.js";
export type { BlockAnalysis, BlockAnalysisRow, BlockAnalysisOptions } from "./eval/blocks.js";
export { tuneGuidance, TUNING_GRIDS } from "./eval/tune.js";
export type { TuneOptions, TuneResult } from "./eval/tune.js";
export type { MeasureOptions, Measurement } from "./eval/meter.js";
export type { EvalOptions, EvalResult } from "./eval/harness.js";
export {
  createScheduler,
  createGlyphReferenceScheduler,
  schedulerFromDiffusersClass,
  SCHEDULER_NAMES,
  FlowMatchEulerScheduler,
  EulerDiscreteScheduler,
  DdimScheduler,
  DpmSolverMultistepScheduler,
  UniPcScheduler,
  DitDdimScheduler,
  fluxMu,
} from "./schedulers/index.js";
export { applyLinearTerms } from "./schedulers/index.js";
export type { Scheduler, SchedulerName, StepOutput, TimestepsOptions, LinearStep, LinearTerms } from "./schedulers/index.js";

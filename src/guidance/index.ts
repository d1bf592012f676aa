// Guidance: the Guider contract (branches per step + their linear or non-linear combination), the methods (one file
// each) and guidance SPECs.
export { affineCombination, combineBranches, isNonlinear, type BranchCondition, type CombineContext, type TensorCombineContext, type DerivedModelSpec, type GuidanceBranch, type GuidanceCombination, type GuidanceStep, type Guider, type NonlinearCombination } from "./guider.js";
export { ClassifierFreeGuidance } from "./cfg.js";
export { Autoguidance, RECOMMENDED_GUIDANCE, type AutoguidanceOptions } from "./autoguidance.js";
export { SkipLayerGuidance, type SkipLayerOptions } from "./slg.js";
export { PerturbedAttentionGuidance, type PerturbedAttentionOptions } from "./pag.js";
export { AdaptiveProjectedGuidance, type ApgOptions } from "./apg.js";
export { CfgZeroStar, type CfgZeroStarOptions } from "./cfgZeroStar.js";
export { GuidanceInterval, type SigmaWindow } from "./interval.js";
export { SCHEDULE_SHAPES, ScheduledGuidance, type ScheduleOptions, type ScheduleShape } from "./schedule.js";
export { StrongWeakGuidance, type StrongWeakOptions } from "./strongWeak.js";
export { linearGuidance, type GuidanceTerm, type LinearGuidance } from "./terms.js";
export { loadLowRankModel, lowRankContent, truncateRank, writeLowRankCheckpoint } from "./lowRank.js";
export { perturbedBlocks, type Perturbation, type PerturbationKind } from "./weak.js";
export { Guidance, guiderFrom, isGuider, type GuidanceDefaults } from "./policy.js";
export { GUIDANCE_SPECS, parseGuidanceSpec } from "./specs.js";

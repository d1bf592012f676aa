// Guidance: the Guider contract (branches per step + their linear combination), CFG, and guidance SPECs.
export { affineCombination, combineBranches, type BranchCondition, type GuidanceBranch, type GuidanceCombination, type GuidanceStep, type Guider } from "./guider.js";
export { ClassifierFreeGuidance } from "./cfg.js";
export { guiderFrom, isGuider } from "./policy.js";
export { GUIDANCE_SPECS, parseGuidanceSpec } from "./specs.js";

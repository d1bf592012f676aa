// Block caching: cache policies, cache SPECs and calibration profiles (docs/caching.md).
export { CachePolicy } from "./policy.js";
export { CACHE_SPECS, parseCacheSpec } from "./specs.js";
export type { CacheContext, CacheRun, CacheStep, CacheBranchPlan } from "./run.js";
export { readCacheProfile, type CacheProfile } from "./profile.js";

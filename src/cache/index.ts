// Block caching: cache policies and cache SPECs.
export { CachePolicy } from "./policy.js";
export { CACHE_SPECS, parseCacheSpec } from "./specs.js";

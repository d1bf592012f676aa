// ditto-dit: fast Diffusion Transformers from Node.js. Public entry point (ESM + CJS via tsup).
export { loadModel, Model } from "./model.js";
export type { LoadModelOptions, ModelConfig, ModelDType, ForwardDetailedOptions, ForwardDetailedResult } from "./model.js";
export { Tensor } from "./tensor.js";
export { DittoError, isDittoError } from "./errors.js";
export type { DittoErrorCode } from "./errors.js";
export { info } from "./info.js";
export type { DittoInfo } from "./info.js";
export { readSafetensors, writeSafetensors, parseSafetensors, encodeSafetensors } from "./io/safetensors.js";
export type { SafetensorsTensor, SafetensorsContent, SafetensorsDType, SafetensorsTensorInput } from "./io/safetensors.js";
export { verifyCase, verifyAll, registerVerifyFamily, registerOutputExtension } from "./verify/index.js";
export type { VerifyCaseResult, VerifyOutputResult, VerifyFamily, VerifyContext, OutputExtension } from "./verify/index.js";

// Quality metrics: FD (Fréchet distance on classifier features), ACC, PSNR/SSIM, and the float64 linear algebra
// they need.
export { symmetricEigen, symmetricSqrt, matMul, type SymmetricEigen } from "./eigen.js";
export { featureStats, frechetDistance, type GaussianStats } from "./frechet.js";
export { psnr, ssim, batchFidelity, IDENTICAL_PSNR_DB, type ImageShape } from "./fidelity.js";
export { Classifier, accuracy, loadOnnxRuntime, type ClassifierOutput } from "./classifier.js";

// Image output: u8 images from model-space tensors, PNG via sharp, and grids of batches.
export { Image } from "./image.js";
export { makeGrid, type GridOptions } from "./grid.js";
export { toUint8NHWC, uint8ToUnitRange } from "./quantize.js";
export { saveVideo, type SaveVideoOptions, type SavedVideo } from "./video.js";

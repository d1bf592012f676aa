// Device choice for loadModel / Pipeline.load: 'auto' | 'cpu' | 'cuda' | 'cuda:N', resolved by the engine's
// choose_device (native/include/ditto/device.h), which dlopens the separately built CUDA backend only when asked.
// A usable GPU with a backend of ABI v2 runs models (docs/cuda.md); 'auto' takes it, else falls back to the CPU
// with the reason recorded (model.deviceReason, `ditto info`); an explicit 'cuda' that cannot be honoured (no
// backend, no driver, no device, a v1 backend) fails with ERR_CUDA saying why.
import { DittoError, typeError } from "./errors.js";
import { callNative, native, type NativeTransferCounts } from "./native.js";

export type DeviceSpec = "auto" | "cpu" | "cuda" | `cuda:${number}`;

/** A device a model actually runs on (what Model.device / Pipeline.device report): 'cpu' or 'cuda:N'. */
export type DeviceName = "cpu" | `cuda:${number}`;

export interface DeviceChoice {
  /** Where the model runs: 'cpu' or 'cuda:N'. */
  device: DeviceName;
  /** Why this device was chosen when the request was 'auto' (e.g. no CUDA driver); empty for an explicit 'cpu'. */
  reason: string;
}

const CUDA_ABI_V1 = "its CUDA backend has ABI v1 (device queries only); running models needs v2 (rebuild it with scripts/build-cuda.sh)";

export function isDeviceSpec(value: unknown): value is DeviceSpec {
  return typeof value === "string" && /^(auto|cpu|cuda(:\d+)?)$/.test(value);
}

export function chooseDevice(spec: unknown = "auto", name = "device"): DeviceChoice {
  if (!isDeviceSpec(spec)) throw typeError("'auto', 'cpu', 'cuda' or 'cuda:N'", name, spec);
  if (spec === "cpu") return { device: "cpu", reason: "" };
  // Throws ERR_CUDA for an explicit CUDA request that cannot be honoured (no backend, no driver, no device).
  const probe = callNative(() => native().probeDevice(spec));
  if (probe.kind === "cpu") return { device: "cpu", reason: probe.reason };
  if (probe.abi >= 2) return { device: probe.device as DeviceName, reason: probe.reason };
  if (spec === "auto") return { device: "cpu", reason: `found ${probe.description}, but ${CUDA_ABI_V1}` };
  throw new DittoError("ERR_CUDA", `Cannot run on device '${spec}' (${probe.description}): ${CUDA_ABI_V1}`);
}

/** The CUDA backend's counted host↔device copies since the process loaded it (zeros without an ABI v2 backend):
 * activations and device tensors, not weights. Pipeline.generate on 'cuda' copies its latents back once, at the end. */
export function cudaTransferCounts(): NativeTransferCounts {
  return callNative(() => native().cudaTransferCounts());
}

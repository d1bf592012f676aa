// Device choice for loadModel / Pipeline.load: 'auto' | 'cpu' | 'cuda' | 'cuda:N', resolved by the engine's
// choose_device (native/include/ditto/device.h), which dlopens the separately built CUDA backend only when asked.
// The CPU engine runs every model; the CUDA DiT forward exists in the backend's native tests but is not yet
// reachable from the addon, so an explicit 'cuda' that finds a GPU still fails with ERR_CUDA saying exactly that,
// and 'auto' falls back to the CPU with the reason recorded (model.deviceReason, `ditto info`).
import { DittoError, typeError } from "./errors.js";
import { callNative, native } from "./native.js";

export type DeviceSpec = "auto" | "cpu" | "cuda" | `cuda:${number}`;

/** A device a model actually runs on (what Model.device / Pipeline.device report): 'cpu' or 'cuda:N'. */
export type DeviceName = "cpu" | `cuda:${number}`;

export interface DeviceChoice {
  /** Where the model runs (today the CPU engine runs every model, so 'cpu' until the CUDA runtime is wired). */
  device: DeviceName;
  /** Why this device was chosen when the request was 'auto' (e.g. no CUDA driver); empty for an explicit 'cpu'. */
  reason: string;
}

const CUDA_RUNTIME_MISSING =
  "the CUDA DiT forward is built into libditto_cuda's native tests but not wired into the Node addon yet";

export function isDeviceSpec(value: unknown): value is DeviceSpec {
  return typeof value === "string" && /^(auto|cpu|cuda(:\d+)?)$/.test(value);
}

export function chooseDevice(spec: unknown = "auto", name = "device"): DeviceChoice {
  if (!isDeviceSpec(spec)) throw typeError("'auto', 'cpu', 'cuda' or 'cuda:N'", name, spec);
  if (spec === "cpu") return { device: "cpu", reason: "" };
  // Throws ERR_CUDA for an explicit CUDA request that cannot be honoured (no backend, no driver, no device).
  const probe = callNative(() => native().probeDevice(spec));
  if (probe.kind === "cpu") return { device: "cpu", reason: probe.reason };
  if (spec === "auto") return { device: "cpu", reason: `found ${probe.description}, but ${CUDA_RUNTIME_MISSING}` };
  throw new DittoError("ERR_CUDA", `Cannot run on device '${spec}' (${probe.description}): ${CUDA_RUNTIME_MISSING}`);
}

// The sampling loop's numerics guard: after every step the latents must still be finite. A NaN/Inf latent (a
// broken checkpoint loaded with checkFinite: false, an unstable custom scheduler, an extreme guidance scale) would
// otherwise run to the end and decode to a black image; instead generate() rejects with DittoError ERR_NUMERICS
// naming the step. The count is one native vectorised pass: made inside the step job when the step is one session
// job (SessionStepRequest.countNonFinite; on a GPU no host wait on the JS thread), else Tensor.countNonFinite.
import { DittoError } from "../errors.js";
import type { Tensor } from "../tensor.js";

/** Throws ERR_NUMERICS when `latents` holds NaN or ±Infinity after step `step` (1-based) of `total`. `counted`: the
 * count the step job already made (SessionStepRequest.countNonFinite: no wait on the JS thread), else one is made. */
export function assertFiniteLatents(latents: Tensor, step: number, total: number, counted?: number): void {
  const bad = counted ?? latents.countNonFinite();
  if (bad > 0) {
    throw new DittoError(
      "ERR_NUMERICS",
      `The latents became non-finite at step ${step} of ${total} (${bad} of ${latents.size} values are NaN or Infinity)`,
    );
  }
}

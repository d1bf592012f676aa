// Verify family for Wan2.1 cases (shared/golden/README.md "wan"): the captured forward of model.safetensors
// (diffusers layout) and `official.out` from model.official.safetensors (official Wan2.1 names, same inputs).
import { forwardWithWeights, registerConditionedFamily } from "./conditioned.js";

registerConditionedFamily({
  name: "wan",
  referenceClasses: ["WanTransformer3DModel", "wan.modules.model.WanModel"],
  markers: ["condition_embedder.time_proj.weight", "time_projection.1.weight"],
  inputs: { x: "hidden_states", t: "timestep" },
  conditions: { encoderHiddenStates: "encoder_hidden_states" },
  extra: async (_model, inputs, context) => {
    const produced = new Map<string, Float32Array>();
    const official = await forwardWithWeights("model.official.safetensors", inputs, context);
    if (official) produced.set("official.out", official);
    return produced;
  },
});

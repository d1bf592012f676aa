// Verify family for PixArt-α/Σ cases (shared/golden/README.md "pixart"): the captured forward with the text mask,
// `out_without_mask` (the mask left out), and `check.masked_tokens_perturbed.max_abs_change` (masked-out text
// tokens perturbed: the output must not move).
import { Tensor } from "../../tensor.js";
import { registerConditionedFamily } from "./conditioned.js";

registerConditionedFamily({
  name: "pixart",
  referenceClasses: ["PixArtTransformer2DModel"],
  markers: ["adaln_single.linear.weight"],
  inputs: { x: "hidden_states", t: "timestep" },
  conditions: { encoderHiddenStates: "encoder_hidden_states", encoderAttentionMask: "encoder_attention_mask" },
  extra: async (model, inputs) => {
    const produced = new Map<string, Float32Array>();
    const text = inputs.conditions.encoderHiddenStates!;
    const mask = inputs.conditions.encoderAttentionMask;
    const noMask = await model.forward(inputs.x, inputs.t, { encoderHiddenStates: text });
    produced.set("out_without_mask", noMask.toFloat32Array());
    noMask.dispose();
    if (mask) {
      const values = text.toFloat32Array().slice();
      const keep = mask.toFloat32Array();
      const width = text.shape[2]!;
      keep.forEach((k, token) => {
        if (k === 0) for (let c = 0; c < width; c++) values[token * width + c]! += 3;
      });
      const perturbedText = Tensor.from(values, text.shape);
      const [base, perturbed] = await Promise.all([
        model.forward(inputs.x, inputs.t, inputs.conditions),
        model.forward(inputs.x, inputs.t, { encoderHiddenStates: perturbedText, encoderAttentionMask: mask }),
      ]);
      const a = base.toFloat32Array();
      const b = perturbed.toFloat32Array();
      let change = 0;
      for (let i = 0; i < a.length; i++) change = Math.max(change, Math.abs(a[i]! - b[i]!));
      produced.set("check.masked_tokens_perturbed.max_abs_change", Float32Array.of(change));
      for (const t of [perturbedText, base, perturbed]) t.dispose();
    }
    return produced;
  },
});

// Known families whose case no verify family could claim (an unusual layout or class; PixArt, SD3, Flux, Wan, VAE-KL,
// scheduler folders). Detected from the config's reference class, else from tensor names,
// so `ditto verify` can answer {"pass": false, "error": "unsupported: <family>"} with exit code 2 instead of failing.
import { existsSync } from "node:fs";
import path from "node:path";

import { referenceClass, weightNames } from "../case.js";

interface UnsupportedFamily {
  name: string;
  classPattern: RegExp;
  /** Any of these tensor-name prefixes marks the family. */
  markers: string[];
}

const UNSUPPORTED: UnsupportedFamily[] = [
  { name: "pixart", classPattern: /PixArt/i, markers: ["adaln_single.", "caption_projection."] },
  { name: "sd3", classPattern: /SD3|MMDiT/i, markers: ["context_embedder.", "time_text_embed.text_embedder."] },
  { name: "flux", classPattern: /Flux/i, markers: ["single_transformer_blocks.", "double_blocks.", "single_blocks."] },
  { name: "wan", classPattern: /Wan/i, markers: ["condition_embedder.", "blocks.0.self_attn.", "patch_embedding."] },
  { name: "vae-kl", classPattern: /AutoencoderKL|VAE/i, markers: ["encoder.down_blocks.", "decoder.up_blocks."] },
];

/** The name of an unsupported family the folder belongs to, or undefined. Flux is checked before SD3 (it has both markers). */
export function detectUnsupportedFamily(dir: string, config: Record<string, any> | undefined): string | undefined {
  const cls = referenceClass(config);
  if (cls) {
    const byClass = UNSUPPORTED.find((f) => f.classPattern.test(cls));
    if (byClass) return byClass.name;
  }
  if (existsSync(path.join(dir, "index.json"))) return "schedulers";
  const names = [...weightNames(dir)];
  for (const family of [UNSUPPORTED[2]!, ...UNSUPPORTED.filter((f) => f.name !== "flux")]) {
    if (names.some((n) => family.markers.some((m) => n.startsWith(m)))) return family.name;
  }
  return undefined;
}

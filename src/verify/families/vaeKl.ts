// Verify family for AutoencoderKL cases (shared/golden/README.md "vae-kl"): loads the folder with loadVae(),
// encodes `image` and decodes `latent` with every intermediate captured (encoder/decoder blocks, quant convs),
// derives the posterior std = exp(½·logvar) as the reference does, decodes the posterior mean for `recon`
// (model(image, sample_posterior=False)), and compares each name in io_roles.outputs. A case without quant convs
// (use_quant_conv false) simply has no quant_conv.out to compare.
import { toFloat32Array } from "../../io/safetensors.js";
import { Tensor } from "../../tensor.js";
import { loadVae } from "../../vae.js";
import { compareProduced, ioTensor, outputNames, readIo, referenceClass, weightNames } from "../case.js";
import { registerVerifyFamily } from "../registry.js";
import type { FamilyRunResult, VerifyContext } from "../types.js";

async function runVaeKl(context: VerifyContext): Promise<FamilyRunResult> {
  const { dir, config, options } = context;
  const io = readIo(dir);
  const listed = config?.io_roles?.inputs;
  const wanted = outputNames(config, io, Array.isArray(listed) ? listed : ["image", "latent"]);
  const vae = await loadVae(dir, { threads: options.threads, dtype: options.dtype });
  const produced = new Map<string, Tensor>();
  try {
    const c = vae.config;
    options.log?.(`${context.caseName}: autoencoder-kl (${c.layout}), channels [${c.blockOutChannels.join(", ")}], latent ${c.latentChannels}`);
    if (io.tensors.has("image")) {
      const t = ioTensor(io, "image", dir);
      const image = Tensor.from(toFloat32Array(t), t.shape);
      const posterior = await vae.encode(image, { capture: true });
      for (const [name, value] of Object.entries(posterior.intermediates)) produced.set(name, value);
      produced.set("posterior.mean", posterior.mean);
      produced.set("posterior.logvar", posterior.logvar);
      const logvar = posterior.logvar.toFloat32Array();
      const std = new Float32Array(logvar.length);
      for (let i = 0; i < std.length; i++) std[i] = Math.fround(Math.exp(Math.fround(0.5 * logvar[i]!)));
      produced.set("posterior.std", Tensor.from(std, posterior.logvar.shape));
      if (wanted.includes("recon")) produced.set("recon", await vae.decode(posterior.mean));
      image.dispose();
    }
    if (io.tensors.has("latent")) {
      const t = ioTensor(io, "latent", dir);
      const latent = Tensor.from(toFloat32Array(t), t.shape);
      const { out, intermediates } = await vae.decodeDetailed(latent, { capture: true });
      for (const [name, value] of Object.entries(intermediates)) produced.set(name, value);
      produced.set("out", out);
      latent.dispose();
    }
    return compareProduced(wanted, produced, io, config);
  } finally {
    for (const tensor of produced.values()) tensor.dispose();
    vae.dispose();
  }
}

registerVerifyFamily({
  name: "vae-kl",
  detect: (dir, config) => {
    const cls = referenceClass(config);
    if (cls) return /(^|\.)AutoencoderKL$/.test(cls);
    const names = weightNames(dir);
    return names.has("encoder.conv_in.weight") && names.has("decoder.conv_out.weight");
  },
  run: runVaeKl,
});

#!/usr/bin/python3
"""PyTorch eager peer for examples/bench-vae.mjs: diffusers' AutoencoderKL decoder (vae.py Decoder, re-stated in plain
torch: GroupNorm(eps 1e-6)+SiLU ResNet blocks, single-head mid-block attention, nearest-2x upsamplers) loaded from a
diffusers-layout VAE folder, checked against the folder's io.safetensors `out` when present, then timed.

Usage: /usr/bin/python3 examples/bench/vae_torch.py --vae DIR --threads N --sizes 16,32,64 [--reps R]
Prints one JSON line: {"torch": version, "threads": N, "results": {size: ms}, "check": maxabs or null}.
"""
import argparse, json, math, os, time

import torch
import torch.nn.functional as F

from dit_torch import read_safetensors  # the script's folder is on sys.path when run as a script


class Decoder:
    def __init__(self, w, cfg):
        self.w, self.groups = w, cfg.get("norm_num_groups", 32)
        self.levels = len(cfg["block_out_channels"])
        self.layers = cfg.get("layers_per_block", 1)

    def gn(self, x, p, silu):
        y = F.group_norm(x, self.groups, self.w[p + ".weight"], self.w[p + ".bias"], 1e-6)
        return F.silu(y) if silu else y

    def conv(self, x, p, pad=1):
        return F.conv2d(x, self.w[p + ".weight"], self.w[p + ".bias"], 1, pad)

    def resnet(self, x, p):
        h = self.conv(self.gn(x, p + ".norm1", True), p + ".conv1")
        h = self.conv(self.gn(h, p + ".norm2", True), p + ".conv2")
        s = self.conv(x, p + ".conv_shortcut", 0) if p + ".conv_shortcut.weight" in self.w else x
        return s + h

    def attention(self, x, p):
        b, c, hh, ww = x.shape
        h = self.gn(x, p + ".group_norm", False).view(b, c, hh * ww).transpose(1, 2)
        q, k, v = (F.linear(h, self.w[f"{p}.to_{n}.weight"], self.w[f"{p}.to_{n}.bias"]) for n in "qkv")
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1) @ v
        o = F.linear(a, self.w[p + ".to_out.0.weight"], self.w[p + ".to_out.0.bias"])
        return o.transpose(1, 2).reshape(b, c, hh, ww) + x

    def __call__(self, z):
        if "post_quant_conv.weight" in self.w:
            z = self.conv(z, "post_quant_conv", 0)
        x = self.conv(z, "decoder.conv_in")
        x = self.resnet(x, "decoder.mid_block.resnets.0")
        if "decoder.mid_block.attentions.0.to_q.weight" in self.w:
            x = self.attention(x, "decoder.mid_block.attentions.0")
        x = self.resnet(x, "decoder.mid_block.resnets.1")
        for i in range(self.levels):
            for j in range(self.layers + 1):
                x = self.resnet(x, f"decoder.up_blocks.{i}.resnets.{j}")
            if f"decoder.up_blocks.{i}.upsamplers.0.conv.weight" in self.w:
                x = self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"), f"decoder.up_blocks.{i}.upsamplers.0.conv")
        return self.conv(self.gn(x, "decoder.conv_norm_out", True), "decoder.conv_out")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vae", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="16,32,64")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = json.load(open(os.path.join(a.vae, "config.json")))
    cfg = cfg.get("full_config", cfg)
    weights = os.path.join(a.vae, "model.safetensors")
    if not os.path.exists(weights):
        weights = os.path.join(a.vae, "diffusion_pytorch_model.safetensors")
    dec = Decoder(read_safetensors(weights), cfg)
    check = None
    io = os.path.join(a.vae, "io.safetensors")
    with torch.no_grad():
        if os.path.exists(io):
            t = read_safetensors(io)
            check = float((dec(t["latent"]) - t["out"]).abs().max())
        results = {}
        for s in [int(v) for v in a.sizes.split(",")]:
            z = torch.randn(1, cfg.get("latent_channels", 4), s, s, generator=torch.Generator().manual_seed(0))
            dec(z)  # warm-up
            times = []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                dec(z)
                times.append((time.perf_counter() - t0) * 1000)
            results[s] = sorted(times)[len(times) // 2]
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "results": results, "check": check}))


main()

#!/usr/bin/python3
"""PyTorch eager peer for examples/bench-families.mjs: plain-torch SD3.5-style MMDiT, Flux, PixArt-Σ-style and
Wan2.1-style forwards (written from the diffusers SD3Transformer2DModel / FluxTransformer2DModel /
PixArtTransformer2DModel / WanTransformer3DModel math, golden README "sd3" / "flux" / "pixart" / "wan"; no diffusers),
with random weights under the diffusers key names. Writes each model (model.safetensors + config.json) and one batch of
inputs and the torch output (io.safetensors) to OUT/<family>, so Ditto runs the very same forward, and times it.

Usage: /usr/bin/python3 examples/bench/families_torch.py --out DIR --threads N [--batch 1] [--seconds 2]
Prints one JSON line: {"torch": version, "threads": N, "results": {"sd3": {"ms": .., "shapes": ..}, "flux": ...}}.
--families sd3,flux,pixart,wan picks some.
"""
import argparse, json, math, os, struct, time

import numpy as np
import torch
import torch.nn.functional as F

FAMILIES = {
    # A "realistic small" size: 512-wide, 64x64-pixel-latent-like grids (256 image tokens), 128 text tokens.
    "sd3": dict(D=512, heads=8, depth=4, dual=[0], C=16, p=2, side=32, pos_max=48, joint=1024, pooled=768, Lt=128),
    "flux": dict(D=512, heads=4, double=2, single=4, C=64, grid=16, joint=1024, pooled=768, Lt=128, axes=[16, 56, 56]),
    # PixArt-Σ-style: 512 wide, 8 heads, 4 blocks, 32x32 latents (256 tokens), 120 caption tokens (the last 20 masked).
    "pixart": dict(D=512, heads=8, depth=4, C=4, p=2, side=32, caption=1024, Lt=120, masked=20),
    # Wan2.1-style: 512 wide, 4 heads of 128 (the real RoPE split 44/42/42), 4 blocks, latents 16x3x16x16 with patch
    # (1, 2, 2) (192 tokens), 128 zero-padded text tokens.
    "wan": dict(D=512, heads=4, depth=4, C=16, frames=3, side=16, text=1024, freq=256, ffn=1536, Lt=128),
}


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name].detach().cpu().numpy().astype(np.float32))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class Weights(dict):
    def __init__(self, seed):
        super().__init__()
        self.g = torch.Generator().manual_seed(seed)

    def linear(self, name, n, k, gain=1.0):
        self[name + ".weight"] = torch.randn(n, k, generator=self.g) * (gain / math.sqrt(k))
        self[name + ".bias"] = torch.randn(n, generator=self.g) * 0.05

    def scale(self, name, n):
        self[name] = 1 + 0.1 * torch.randn(n, generator=self.g)


def lin(w, p, x):
    return F.linear(x, w[p + ".weight"], w[p + ".bias"])


def ln(x):
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)


def rms(x, weight):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * weight


def t_freq(t):
    freqs = torch.exp(-math.log(10000) * torch.arange(128, dtype=torch.float32) / 128)
    a = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=-1)


def mlp(w, p1, p2, x):
    return lin(w, p2, F.silu(lin(w, p1, x)))


def heads(x, H):
    B, L, D = x.shape
    return x.view(B, L, H, D // H).transpose(1, 2)


def attend(q, k, v, bias=None):
    a = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
    if bias is not None:
        a = a + bias
    o = a.softmax(-1) @ v
    return o.transpose(1, 2).flatten(2)


def rope(x, cos, sin):  # x [B, H, L, Dh]; cos, sin [L, Dh/2]; interleaved pairs
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * cos - x1 * sin, x1 * cos + x0 * sin], -1).flatten(-2)


def mod(x, shift, scale):
    return ln(x) * (1 + scale[:, None]) + shift[:, None]


def qkv(w, names, norms, x, H):
    q, k, v = (heads(lin(w, n, x), H) for n in names)
    if norms and norms[0] in w:
        q, k = rms(q, w[norms[0]]), rms(k, w[norms[1]])
    return q, k, v


def ff(w, p, x):
    return lin(w, p + ".net.2", F.gelu(lin(w, p + ".net.0.proj", x), approximate="tanh"))


# ---- SD3 ------------------------------------------------------------------------------------------------------
def make_sd3(c):
    D, w = c["D"], Weights(1)
    w["pos_embed.proj.weight"] = torch.randn(D, c["C"], c["p"], c["p"], generator=w.g) / math.sqrt(c["C"] * c["p"] ** 2)
    w["pos_embed.proj.bias"] = torch.randn(D, generator=w.g) * 0.05
    w["pos_embed.pos_embed"] = torch.randn(1, c["pos_max"] ** 2, D, generator=w.g) * 0.5
    w.linear("context_embedder", D, c["joint"])
    w.linear("time_text_embed.timestep_embedder.linear_1", D, 256)
    w.linear("time_text_embed.timestep_embedder.linear_2", D, D)
    w.linear("time_text_embed.text_embedder.linear_1", D, c["pooled"])
    w.linear("time_text_embed.text_embedder.linear_2", D, D)
    dh = D // c["heads"]
    for i in range(c["depth"]):
        p, last, dual = f"transformer_blocks.{i}.", i == c["depth"] - 1, i in c["dual"]
        w.linear(p + "norm1.linear", (9 if dual else 6) * D, D, 2.0)
        w.linear(p + "norm1_context.linear", (2 if last else 6) * D, D, 2.0)
        for n in ["to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0"]:
            w.linear(p + "attn." + n, D, D)
        for n in ["norm_q", "norm_k", "norm_added_q", "norm_added_k"] if c.get("qk", True) else []:
            w.scale(p + "attn." + n + ".weight", dh)
        w.linear(p + "ff.net.0.proj", 4 * D, D)
        w.linear(p + "ff.net.2", D, 4 * D)
        if not last:
            w.linear(p + "attn.to_add_out", D, D)
            w.linear(p + "ff_context.net.0.proj", 4 * D, D)
            w.linear(p + "ff_context.net.2", D, 4 * D)
        if dual:
            for n in ["to_q", "to_k", "to_v", "to_out.0"]:
                w.linear(p + "attn2." + n, D, D)
            for n in ["norm_q", "norm_k"] if c.get("qk", True) else []:
                w.scale(p + "attn2." + n + ".weight", dh)
    w.linear("norm_out.linear", 2 * D, D, 2.0)
    w.linear("proj_out", c["p"] ** 2 * c["C"], D)
    config = {"sample_size": c["side"], "patch_size": c["p"], "in_channels": c["C"], "num_layers": c["depth"],
              "attention_head_dim": dh, "num_attention_heads": c["heads"], "joint_attention_dim": c["joint"],
              "caption_projection_dim": D, "pooled_projection_dim": c["pooled"], "out_channels": c["C"],
              "pos_embed_max_size": c["pos_max"], "dual_attention_layers": c["dual"],
              "qk_norm": "rms_norm" if c.get("qk", True) else None,
              "_class_name": "SD3Transformer2DModel"}
    return w, config


def sd3_forward(w, c, x, t, ehs, pooled):
    D, H, p, B = c["D"], c["heads"], c["p"], x.shape[0]
    gh, gw = x.shape[2] // p, x.shape[3] // p
    h = F.conv2d(x, w["pos_embed.proj.weight"], w["pos_embed.proj.bias"], stride=p).flatten(2).transpose(1, 2)
    top, left = (c["pos_max"] - gh) // 2, (c["pos_max"] - gw) // 2
    pos = w["pos_embed.pos_embed"].reshape(1, c["pos_max"], c["pos_max"], D)[:, top:top + gh, left:left + gw].reshape(1, -1, D)
    h = h + pos
    ctx = lin(w, "context_embedder", ehs)
    temb = mlp(w, "time_text_embed.timestep_embedder.linear_1", "time_text_embed.timestep_embedder.linear_2", t_freq(t)) + \
        mlp(w, "time_text_embed.text_embedder.linear_1", "time_text_embed.text_embedder.linear_2", pooled)
    st = F.silu(temb)
    L = h.shape[1]
    for i in range(c["depth"]):
        pre, last, dual = f"transformer_blocks.{i}.", i == c["depth"] - 1, i in c["dual"]
        m = lin(w, pre + "norm1.linear", st).chunk(9 if dual else 6, dim=1)
        mc = lin(w, pre + "norm1_context.linear", st)
        nx = mod(h, m[0], m[1])
        if last:
            cs, csh = mc.chunk(2, dim=1)
            nc = mod(ctx, csh, cs)
        else:
            mc = mc.chunk(6, dim=1)
            nc = mod(ctx, mc[0], mc[1])
        a = pre + "attn."
        q, k, v = qkv(w, [a + "to_q", a + "to_k", a + "to_v"], [a + "norm_q.weight", a + "norm_k.weight"], nx, H)
        cq, ck, cv = qkv(w, [a + "add_q_proj", a + "add_k_proj", a + "add_v_proj"], [a + "norm_added_q.weight", a + "norm_added_k.weight"], nc, H)
        o = attend(torch.cat([q, cq], 2), torch.cat([k, ck], 2), torch.cat([v, cv], 2))
        h_in = h
        h = h + m[2][:, None] * lin(w, a + "to_out.0", o[:, :L])
        if dual:
            a2 = pre + "attn2."
            q2, k2, v2 = qkv(w, [a2 + "to_q", a2 + "to_k", a2 + "to_v"], [a2 + "norm_q.weight", a2 + "norm_k.weight"], mod(h_in, m[6], m[7]), H)
            h = h + m[8][:, None] * lin(w, a2 + "to_out.0", attend(q2, k2, v2))
        h = h + m[5][:, None] * ff(w, pre + "ff", mod(h, m[3], m[4]))
        if not last:
            ctx = ctx + mc[2][:, None] * lin(w, a + "to_add_out", o[:, L:])
            ctx = ctx + mc[5][:, None] * ff(w, pre + "ff_context", mod(ctx, mc[3], mc[4]))
    scale, shift = lin(w, "norm_out.linear", st).chunk(2, dim=1)
    h = lin(w, "proj_out", mod(h, shift, scale))
    h = h.reshape(B, gh, gw, p, p, c["C"])
    return torch.einsum("nhwpqc->nchpwq", h).reshape(B, c["C"], gh * p, gw * p)


# ---- Flux -----------------------------------------------------------------------------------------------------
def make_flux(c):
    D, w = c["D"], Weights(2)
    w.linear("x_embedder", D, c["C"])
    w.linear("context_embedder", D, c["joint"])
    for e, k in [("timestep_embedder", 256), ("guidance_embedder", 256), ("text_embedder", c["pooled"])]:
        if e == "guidance_embedder" and not c.get("guidance", True):
            continue
        w.linear(f"time_text_embed.{e}.linear_1", D, k)
        w.linear(f"time_text_embed.{e}.linear_2", D, D)
    dh = D // c["heads"]
    for i in range(c["double"]):
        p = f"transformer_blocks.{i}."
        w.linear(p + "norm1.linear", 6 * D, D, 2.0)
        w.linear(p + "norm1_context.linear", 6 * D, D, 2.0)
        for n in ["to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0", "to_add_out"]:
            w.linear(p + "attn." + n, D, D)
        for n in ["norm_q", "norm_k", "norm_added_q", "norm_added_k"]:
            w.scale(p + "attn." + n + ".weight", dh)
        for f in ["ff", "ff_context"]:
            w.linear(p + f + ".net.0.proj", 4 * D, D)
            w.linear(p + f + ".net.2", D, 4 * D)
    for i in range(c["single"]):
        p = f"single_transformer_blocks.{i}."
        w.linear(p + "norm.linear", 3 * D, D, 2.0)
        for n in ["to_q", "to_k", "to_v"]:
            w.linear(p + "attn." + n, D, D)
        for n in ["norm_q", "norm_k"]:
            w.scale(p + "attn." + n + ".weight", dh)
        w.linear(p + "proj_mlp", 4 * D, D)
        w.linear(p + "proj_out", D, 5 * D)
    w.linear("norm_out.linear", 2 * D, D, 2.0)
    w.linear("proj_out", c["C"], D)
    config = {"patch_size": 1, "in_channels": c["C"], "num_layers": c["double"], "num_single_layers": c["single"],
              "attention_head_dim": dh, "num_attention_heads": c["heads"], "joint_attention_dim": c["joint"],
              "pooled_projection_dim": c["pooled"], "guidance_embeds": c.get("guidance", True), "axes_dims_rope": c["axes"],
              "_class_name": "FluxTransformer2DModel"}
    return w, config


def flux_rope(ids, axes):  # ids [S, 3] -> cos, sin [S, Dh/2] (float64 angles, cast to float32)
    parts = []
    for a, d in enumerate(axes):
        omega = 1.0 / (10000.0 ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
        parts.append(ids[:, a].double()[:, None] * omega[None])
    ang = torch.cat(parts, -1)
    return ang.cos().float(), ang.sin().float()


def flux_forward(w, c, x, t, ehs, pooled, img_ids, txt_ids, guidance):
    D, H, Lt = c["D"], c["heads"], ehs.shape[1]
    h, ctx = lin(w, "x_embedder", x), lin(w, "context_embedder", ehs)
    e = "time_text_embed."
    temb = mlp(w, e + "timestep_embedder.linear_1", e + "timestep_embedder.linear_2", t_freq(t * 1000))
    if e + "guidance_embedder.linear_1.weight" in w:
        temb = temb + mlp(w, e + "guidance_embedder.linear_1", e + "guidance_embedder.linear_2", t_freq(guidance * 1000))
    temb = temb + mlp(w, e + "text_embedder.linear_1", e + "text_embedder.linear_2", pooled)
    st = F.silu(temb)
    cos, sin = flux_rope(torch.cat([txt_ids, img_ids], 0), c["axes"])
    for i in range(c["double"]):
        pre = f"transformer_blocks.{i}."
        m, mc = lin(w, pre + "norm1.linear", st).chunk(6, 1), lin(w, pre + "norm1_context.linear", st).chunk(6, 1)
        a = pre + "attn."
        q, k, v = qkv(w, [a + "to_q", a + "to_k", a + "to_v"], [a + "norm_q.weight", a + "norm_k.weight"], mod(h, m[0], m[1]), H)
        cq, ck, cv = qkv(w, [a + "add_q_proj", a + "add_k_proj", a + "add_v_proj"], [a + "norm_added_q.weight", a + "norm_added_k.weight"], mod(ctx, mc[0], mc[1]), H)
        q, k = rope(torch.cat([cq, q], 2), cos, sin), rope(torch.cat([ck, k], 2), cos, sin)
        o = attend(q, k, torch.cat([cv, v], 2))
        h = h + m[2][:, None] * lin(w, a + "to_out.0", o[:, Lt:])
        h = h + m[5][:, None] * ff(w, pre + "ff", mod(h, m[3], m[4]))
        ctx = ctx + mc[2][:, None] * lin(w, a + "to_add_out", o[:, :Lt])
        ctx = ctx + mc[5][:, None] * ff(w, pre + "ff_context", mod(ctx, mc[3], mc[4]))
    s = torch.cat([ctx, h], 1)
    for i in range(c["single"]):
        pre = f"single_transformer_blocks.{i}."
        shift, scale, gate = lin(w, pre + "norm.linear", st).chunk(3, 1)
        n = mod(s, shift, scale)
        a = pre + "attn."
        q, k, v = qkv(w, [a + "to_q", a + "to_k", a + "to_v"], [a + "norm_q.weight", a + "norm_k.weight"], n, H)
        o = attend(rope(q, cos, sin), rope(k, cos, sin), v)
        s = s + gate[:, None] * lin(w, pre + "proj_out", torch.cat([o, F.gelu(lin(w, pre + "proj_mlp", n), approximate="tanh")], -1))
    scale, shift = lin(w, "norm_out.linear", st).chunk(2, 1)
    return lin(w, "proj_out", mod(s[:, Lt:], shift, scale))


# ---- PixArt ---------------------------------------------------------------------------------------------------
def make_pixart(c):
    D, w = c["D"], Weights(4)
    w["pos_embed.proj.weight"] = torch.randn(D, c["C"], c["p"], c["p"], generator=w.g) / math.sqrt(c["C"] * c["p"] ** 2)
    w["pos_embed.proj.bias"] = torch.randn(D, generator=w.g) * 0.05
    w.linear("adaln_single.emb.timestep_embedder.linear_1", D, 256)
    w.linear("adaln_single.emb.timestep_embedder.linear_2", D, D)
    w.linear("adaln_single.linear", 6 * D, D, 2.0)
    w.linear("caption_projection.linear_1", D, c["caption"])
    w.linear("caption_projection.linear_2", D, D)
    for i in range(c["depth"]):
        p = f"transformer_blocks.{i}."
        w[p + "scale_shift_table"] = torch.randn(6, D, generator=w.g) / math.sqrt(D)
        for a in ["attn1", "attn2"]:
            for n in ["to_q", "to_k", "to_v", "to_out.0"]:
                w.linear(p + a + "." + n, D, D)
        w.linear(p + "ff.net.0.proj", 4 * D, D)
        w.linear(p + "ff.net.2", D, 4 * D)
    w["scale_shift_table"] = torch.randn(2, D, generator=w.g) / math.sqrt(D)
    w.linear("proj_out", c["p"] ** 2 * 2 * c["C"], D)
    config = {"num_attention_heads": c["heads"], "attention_head_dim": D // c["heads"], "in_channels": c["C"],
              "out_channels": 2 * c["C"], "num_layers": c["depth"], "cross_attention_dim": D, "sample_size": c["side"],
              "patch_size": c["p"], "caption_channels": c["caption"], "use_additional_conditions": False,
              "norm_type": "ada_norm_single", "norm_eps": 1e-6, "activation_fn": "gelu-approximate",
              "_class_name": "PixArtTransformer2DModel"}
    return w, config


def sincos_2d(D, n, base):  # [n*n, D]: token (r, c) -> [e(c) | e(r)], e(p) = [sin(p w) | cos(p w)], float64
    pos = torch.arange(n, dtype=torch.float64) / (n / base)
    omega = 1.0 / 10000 ** (torch.arange(D // 4, dtype=torch.float64) / (D // 4))
    e = lambda p: torch.cat([torch.sin(p[:, None] * omega), torch.cos(p[:, None] * omega)], 1)
    rows, cols = torch.meshgrid(pos, pos, indexing="ij")
    return torch.cat([e(cols.flatten()), e(rows.flatten())], 1).float()


def pixart_forward(w, c, x, t, ehs, mask):
    D, H, p, B = c["D"], c["heads"], c["p"], x.shape[0]
    gh, gw = x.shape[2] // p, x.shape[3] // p
    h = F.conv2d(x, w["pos_embed.proj.weight"], w["pos_embed.proj.bias"], stride=p).flatten(2).transpose(1, 2)
    h = h + sincos_2d(D, gh, c["side"] // p / max(c["side"] // 64, 1))[None]
    e = "adaln_single.emb.timestep_embedder."
    emb = mlp(w, e + "linear_1", e + "linear_2", t_freq(t))
    t6 = lin(w, "adaln_single.linear", F.silu(emb)).view(B, 6, D)
    cap = lin(w, "caption_projection.linear_2", F.gelu(lin(w, "caption_projection.linear_1", ehs), approximate="tanh"))
    bias = ((1 - mask) * -10000.0)[:, None, None, :]
    for i in range(c["depth"]):
        pre = f"transformer_blocks.{i}."
        m = w[pre + "scale_shift_table"][None] + t6
        a = pre + "attn1."
        q, k, v = qkv(w, [a + "to_q", a + "to_k", a + "to_v"], None, mod(h, m[:, 0], m[:, 1]), H)
        h = h + m[:, 2][:, None] * lin(w, a + "to_out.0", attend(q, k, v))
        a = pre + "attn2."
        q, k, v = heads(lin(w, a + "to_q", h), H), heads(lin(w, a + "to_k", cap), H), heads(lin(w, a + "to_v", cap), H)
        h = h + lin(w, a + "to_out.0", attend(q, k, v, bias))
        h = h + m[:, 5][:, None] * ff(w, pre + "ff", mod(h, m[:, 3], m[:, 4]))
    shift, scale = (w["scale_shift_table"][None] + emb[:, None]).unbind(1)
    h = lin(w, "proj_out", mod(h, shift, scale))
    co = 2 * c["C"]
    h = h.reshape(B, gh, gw, p, p, co)
    return torch.einsum("nhwpqc->nchpwq", h).reshape(B, co, gh * p, gw * p)


# ---- Wan ------------------------------------------------------------------------------------------------------
def make_wan(c):
    D, w = c["D"], Weights(5)
    w["patch_embedding.weight"] = torch.randn(D, c["C"], 1, 2, 2, generator=w.g) / math.sqrt(c["C"] * 4)
    w["patch_embedding.bias"] = torch.randn(D, generator=w.g) * 0.05
    e = "condition_embedder."
    w.linear(e + "time_embedder.linear_1", D, c["freq"])
    w.linear(e + "time_embedder.linear_2", D, D)
    w.linear(e + "time_proj", 6 * D, D, 2.0)
    w.linear(e + "text_embedder.linear_1", D, c["text"])
    w.linear(e + "text_embedder.linear_2", D, D)
    for i in range(c["depth"]):
        p = f"blocks.{i}."
        w[p + "scale_shift_table"] = torch.randn(1, 6, D, generator=w.g) / math.sqrt(D)
        for a in ["attn1", "attn2"]:
            for n in ["to_q", "to_k", "to_v", "to_out.0"]:
                w.linear(p + a + "." + n, D, D)
            for n in ["norm_q", "norm_k"]:
                w.scale(p + a + "." + n + ".weight", D)
        w.scale(p + "norm2.weight", D)
        w[p + "norm2.bias"] = 0.05 * torch.randn(D, generator=w.g)
        w.linear(p + "ffn.net.0.proj", c["ffn"], D)
        w.linear(p + "ffn.net.2", D, c["ffn"])
    w["scale_shift_table"] = torch.randn(1, 2, D, generator=w.g) / math.sqrt(D)
    w.linear("proj_out", 4 * c["C"], D)
    config = {"patch_size": [1, 2, 2], "num_attention_heads": c["heads"], "attention_head_dim": D // c["heads"],
              "in_channels": c["C"], "out_channels": c["C"], "text_dim": c["text"], "freq_dim": c["freq"],
              "ffn_dim": c["ffn"], "num_layers": c["depth"], "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads",
              "eps": 1e-6, "rope_max_seq_len": 1024, "_class_name": "WanTransformer3DModel"}
    return w, config


def wan_rope(f, gh, gw, d):  # cos, sin [f*gh*gw, d/2]: axes (frame, row, col) of d - 4(d//6), 2(d//6), 2(d//6)
    dims = [d - 4 * (d // 6), 2 * (d // 6), 2 * (d // 6)]
    grids = torch.meshgrid(torch.arange(f), torch.arange(gh), torch.arange(gw), indexing="ij")
    parts = []
    for g, da in zip(grids, dims):
        omega = 1.0 / 10000.0 ** (torch.arange(0, da, 2, dtype=torch.float64) / da)
        parts.append(g.flatten().double()[:, None] * omega[None])
    ang = torch.cat(parts, -1)
    return ang.cos().float(), ang.sin().float()


def wan_forward(w, c, x, t, ehs):
    D, H, B, C = c["D"], c["heads"], x.shape[0], c["C"]
    f, gh, gw = x.shape[2], x.shape[3] // 2, x.shape[4] // 2
    h = F.conv3d(x, w["patch_embedding.weight"], w["patch_embedding.bias"], stride=(1, 2, 2)).flatten(2).transpose(1, 2)
    e = "condition_embedder."
    half = c["freq"] // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    ang = t[:, None].float() * freqs[None]
    temb = mlp(w, e + "time_embedder.linear_1", e + "time_embedder.linear_2", torch.cat([torch.cos(ang), torch.sin(ang)], -1))
    tproj = lin(w, e + "time_proj", F.silu(temb)).view(B, 6, D)
    ctx = lin(w, e + "text_embedder.linear_2", F.gelu(lin(w, e + "text_embedder.linear_1", ehs), approximate="tanh"))
    cos, sin = wan_rope(f, gh, gw, D // H)
    for i in range(c["depth"]):
        pre = f"blocks.{i}."
        m = w[pre + "scale_shift_table"] + tproj
        a = pre + "attn1."
        n = mod(h, m[:, 0], m[:, 1])
        q = heads(rms(lin(w, a + "to_q", n), w[a + "norm_q.weight"]), H)
        k = heads(rms(lin(w, a + "to_k", n), w[a + "norm_k.weight"]), H)
        v = heads(lin(w, a + "to_v", n), H)
        h = h + m[:, 2][:, None] * lin(w, a + "to_out.0", attend(rope(q, cos, sin), rope(k, cos, sin), v))
        a = pre + "attn2."
        n = F.layer_norm(h, (D,), w[pre + "norm2.weight"], w[pre + "norm2.bias"], eps=1e-6)
        q = heads(rms(lin(w, a + "to_q", n), w[a + "norm_q.weight"]), H)
        k = heads(rms(lin(w, a + "to_k", ctx), w[a + "norm_k.weight"]), H)
        h = h + lin(w, a + "to_out.0", attend(q, k, heads(lin(w, a + "to_v", ctx), H)))
        h = h + m[:, 5][:, None] * lin(w, pre + "ffn.net.2", F.gelu(lin(w, pre + "ffn.net.0.proj", mod(h, m[:, 3], m[:, 4])), approximate="tanh"))
    shift, scale = (w["scale_shift_table"] + temb[:, None]).unbind(1)
    h = lin(w, "proj_out", mod(h, shift, scale))
    h = h.reshape(B, f, gh, gw, 1, 2, 2, C).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return h.reshape(B, C, f, gh * 2, gw * 2)


def blas_library():  # the libblas this process mapped (Debian's torch uses the system libblas.so.3: netlib or OpenBLAS)
    torch.randn(4, 4) @ torch.randn(4, 4)
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line}
    return sorted(os.path.realpath(p) for p in paths if p.startswith("/"))


def timed(fn, seconds):
    with torch.no_grad():
        for _ in range(2):
            out = fn()
        times, start = [], time.perf_counter()
        while time.perf_counter() - start < seconds or len(times) < 3:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return out, float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--families", default="sd3,flux,pixart,wan")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(3)
    B, res = a.batch, {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_library(), "results": {}}
    for name in a.families.split(","):
        c = FAMILIES[name]
        folder = os.path.join(a.out, name)
        os.makedirs(folder, exist_ok=True)
        w, config = {"sd3": make_sd3, "flux": make_flux, "pixart": make_pixart, "wan": make_wan}[name](c)
        write_safetensors(os.path.join(folder, "model.safetensors"), w)
        json.dump(config, open(os.path.join(folder, "config.json"), "w"))
        if name == "sd3":
            ehs, pooled = torch.randn(B, c["Lt"], c["joint"], generator=g), torch.randn(B, c["pooled"], generator=g)
            x = torch.randn(B, c["C"], c["side"], c["side"], generator=g)
            t = torch.rand(B, generator=g) * 1000
            io = {"x": x, "t": t, "encoderHiddenStates": ehs, "pooledProjections": pooled}
            out, ms = timed(lambda: sd3_forward(w, c, x, t, ehs, pooled), a.seconds)
        elif name == "flux":
            ehs, pooled = torch.randn(B, c["Lt"], c["joint"], generator=g), torch.randn(B, c["pooled"], generator=g)
            n = c["grid"]
            x = torch.randn(B, n * n, c["C"], generator=g)
            t = torch.rand(B, generator=g)
            img = torch.stack([torch.zeros(n * n), torch.arange(n * n) // n, torch.arange(n * n) % n], 1).float()
            txt = torch.zeros(c["Lt"], 3)
            gd = torch.full((B,), 3.5)
            io = {"x": x, "t": t, "encoderHiddenStates": ehs, "pooledProjections": pooled, "imgIds": img[None].repeat(B, 1, 1),
                  "txtIds": txt[None].repeat(B, 1, 1), "guidance": gd}
            out, ms = timed(lambda: flux_forward(w, c, x, t, ehs, pooled, img, txt, gd), a.seconds)
        elif name == "pixart":
            ehs = torch.randn(B, c["Lt"], c["caption"], generator=g)
            mask = torch.ones(B, c["Lt"])
            mask[:, c["Lt"] - c["masked"]:] = 0
            x = torch.randn(B, c["C"], c["side"], c["side"], generator=g)
            t = torch.randint(0, 1000, (B,), generator=g).float()
            io = {"x": x, "t": t, "encoderHiddenStates": ehs, "encoderAttentionMask": mask}
            out, ms = timed(lambda: pixart_forward(w, c, x, t, ehs, mask), a.seconds)
        else:
            ehs = torch.randn(B, c["Lt"], c["text"], generator=g)
            ehs[:, c["Lt"] // 2:] = 0  # zero padding, attended (as umT5 output padded to 512)
            x = torch.randn(B, c["C"], c["frames"], c["side"], c["side"], generator=g)
            t = torch.rand(B, generator=g) * 1000
            io = {"x": x, "t": t, "encoderHiddenStates": ehs}
            out, ms = timed(lambda: wan_forward(w, c, x, t, ehs), a.seconds)
        textTokens = c["Lt"]
        io["out"] = out
        write_safetensors(os.path.join(folder, "io.safetensors"), io)
        res["results"][name] = {"ms": ms, "x": list(x.shape), "textTokens": textTokens, "hidden": c["D"]}
    print(json.dumps(res))


if __name__ == "__main__":
    main()

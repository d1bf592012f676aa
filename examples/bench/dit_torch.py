#!/usr/bin/python3
"""PyTorch eager peer for examples/bench-forward.mjs: the official DiT architecture (facebookresearch/DiT
models.py, re-stated here without timm) loaded from a DiT safetensors checkpoint, timed at the given batch sizes.

Usage: /usr/bin/python3 examples/bench/dit_torch.py --weights DIR --threads N --batches 1,2,16,64 [--dtype f32|bf16]
Prints one JSON line: {"torch": version, "threads": N, "results": {batch: {"f32": ms, "bf16": ms}}, "check": maxabs}.
"""
import argparse, json, math, os, struct, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dt = {"F32": np.float32, "I64": np.int64, "F64": np.float64, "U8": np.uint8}[e["dtype"]]
        b, en = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:en], dtype=dt).reshape(e["shape"]).copy())
    return out


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Block(nn.Module):
    def __init__(self, d, heads, mlp_ratio):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        h = int(d * mlp_ratio)
        self.fc1 = nn.Linear(d, h)
        self.fc2 = nn.Linear(h, d)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def attn(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        a = (q * (q.shape[-1] ** -0.5)) @ k.transpose(-2, -1)
        x = (a.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)

    def forward(self, x, c):
        sm, cm, gm, sp, cp, gp = self.ada(c).chunk(6, dim=1)
        x = x + gm.unsqueeze(1) * self.attn(modulate(self.norm1(x), sm, cm))
        x = x + gp.unsqueeze(1) * self.fc2(F.gelu(self.fc1(modulate(self.norm2(x), sp, cp)), approximate="tanh"))
        return x


class DiT(nn.Module):
    def __init__(self, input_size, patch_size, in_channels, hidden_size, depth, num_heads, mlp_ratio, num_classes,
                 learn_sigma, **_):
        super().__init__()
        self.p, self.c_in = patch_size, in_channels
        self.c_out = in_channels * 2 if learn_sigma else in_channels
        self.x_embedder = nn.Conv2d(in_channels, hidden_size, patch_size, patch_size)
        self.t1, self.t2 = nn.Linear(256, hidden_size), nn.Linear(hidden_size, hidden_size)
        self.y_table = nn.Embedding(num_classes + 1, hidden_size)
        self.blocks = nn.ModuleList([Block(hidden_size, num_heads, mlp_ratio) for _ in range(depth)])
        self.final_norm = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.final_linear = nn.Linear(hidden_size, patch_size * patch_size * self.c_out)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))
        self.register_buffer("pos_embed", torch.zeros(1, (input_size // patch_size) ** 2, hidden_size))

    def load_official(self, sd):
        m = {"x_embedder.proj": "x_embedder", "t_embedder.mlp.0": "t1", "t_embedder.mlp.2": "t2",
             "final_layer.linear": "final_linear", "final_layer.adaLN_modulation.1": "final_ada.1"}
        own = {}
        for k, v in sd.items():
            n = k
            for a, b in m.items():
                n = n.replace(a + ".", b + ".")
            n = n.replace("y_embedder.embedding_table.weight", "y_table.weight")
            n = n.replace(".attn.qkv.", ".qkv.").replace(".attn.proj.", ".proj.")
            n = n.replace(".mlp.fc1.", ".fc1.").replace(".mlp.fc2.", ".fc2.").replace(".adaLN_modulation.1.", ".ada.1.")
            own[n] = v
        self.load_state_dict(own, strict=True)

    def forward(self, x, t, y):
        B = x.shape[0]
        h = self.x_embedder(x).flatten(2).transpose(1, 2) + self.pos_embed
        half = 128  # the frequencies on the input's device (a CUDA run: generate_torch.py --device cuda)
        freqs = torch.exp(-math.log(10000) * torch.arange(0, half, dtype=torch.float32, device=x.device) / half)
        args = t[:, None].float() * freqs[None]
        tf = torch.cat([torch.cos(args), torch.sin(args)], dim=-1).to(h.dtype)
        c = self.t2(F.silu(self.t1(tf))) + self.y_table(y)
        for blk in self.blocks:
            h = blk(h, c)
        shift, scale = self.final_ada(c).chunk(2, dim=1)
        h = self.final_linear(modulate(self.final_norm(h), shift, scale))
        p, g = self.p, int(h.shape[1] ** 0.5)
        h = h.reshape(B, g, g, p, p, self.c_out)
        return torch.einsum("nhwpqc->nchpwq", h).reshape(B, self.c_out, g * p, g * p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--batches", default="1,2,16,64")
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--seconds", type=float, default=1.5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = json.load(open(os.path.join(a.weights, "dit.json")))["kwargs"]
    model = DiT(**cfg).eval()
    model.load_official(read_safetensors(os.path.join(a.weights, "dit.safetensors")))
    res = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": {}}
    ref_path = os.path.join(a.weights, "reference-io.safetensors")
    if os.path.exists(ref_path):  # sanity: the port reproduces the fixture's stored outputs
        io = read_safetensors(ref_path)
        with torch.no_grad():
            v = model(io["dit.x"], io["dit.t"], io["dit.y"])
        res["check_max_abs"] = float((v - io["dit.v"]).abs().max())
    S, C = cfg["input_size"], cfg["in_channels"]
    g = torch.Generator().manual_seed(0)
    for b in [int(s) for s in a.batches.split(",")]:
        x = torch.randn(b, C, S, S, generator=g)
        t = torch.rand(b, generator=g) * 1000
        y = torch.randint(0, cfg["num_classes"] + 1, (b,), generator=g)
        row = {}
        for dt in a.dtypes.split(","):
            m = model if dt == "f32" else DiT(**cfg).eval().to(torch.bfloat16)
            if dt == "bf16":
                m.load_state_dict({k: v.to(torch.bfloat16) for k, v in model.state_dict().items()})
            xx = x if dt == "f32" else x.to(torch.bfloat16)
            with torch.no_grad():
                for _ in range(3):
                    m(xx, t, y)
                times = []
                start = time.perf_counter()
                while time.perf_counter() - start < a.seconds or len(times) < 5:
                    t0 = time.perf_counter()
                    m(xx, t, y)
                    times.append((time.perf_counter() - t0) * 1e3)
            row[dt] = float(np.median(times))
        res["results"][str(b)] = row
    print(json.dumps(res))


if __name__ == "__main__":
    main()

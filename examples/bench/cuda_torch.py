#!/usr/bin/env python3
"""PyTorch peer for native/src/cuda/bench/bench_cuda.cpp: the same shapes (DiT-XL/2 forward, one Flux double
block, one Wan-1.3B block), random weights, bf16, eager with SDPA and torch.compile. Prints one JSON object per
line ({"case", "mode", "ms"}); scripts/gpu-check.sh joins it with the Ditto numbers.
Usage: python3 examples/bench/cuda_torch.py [--quick]"""
import json
import sys
import time

import torch
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = True
dev, dt = "cuda", torch.bfloat16
quick = "--quick" in sys.argv


def lin(i, o):
    return torch.nn.Linear(i, o, device=dev, dtype=dt)


class DitBlock(torch.nn.Module):
    def __init__(s, d=1152, h=16, mlp=4608):
        super().__init__()
        s.h, s.ada, s.qkv, s.proj = h, lin(d, 6 * d), lin(d, 3 * d), lin(d, d)
        s.fc1, s.fc2 = lin(d, mlp), lin(mlp, d)

    def forward(s, x, c):
        b, t, d = x.shape
        sh1, sc1, g1, sh2, sc2, g2 = s.ada(F.silu(c)).unsqueeze(1).chunk(6, dim=2)
        y = F.layer_norm(x, (d,), eps=1e-6) * (1 + sc1) + sh1
        q, k, v = s.qkv(y).view(b, t, 3, s.h, d // s.h).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        x = x + g1 * s.proj(a)
        y = F.layer_norm(x, (d,), eps=1e-6) * (1 + sc2) + sh2
        return x + g2 * s.fc2(F.gelu(s.fc1(y), approximate="tanh"))


class Dit(torch.nn.Module):
    def __init__(s, depth=28):
        super().__init__()
        s.blocks = torch.nn.ModuleList([DitBlock() for _ in range(depth)])

    def forward(s, x, c):
        for blk in s.blocks:
            x = blk(x, c)
        return x


class FluxDouble(torch.nn.Module):
    def __init__(s, d=3072, h=24, mlp=12288):
        super().__init__()
        s.h = h
        s.img = torch.nn.ModuleList([lin(d, 6 * d), lin(d, 3 * d), lin(d, d), lin(d, mlp), lin(mlp, d)])
        s.txt = torch.nn.ModuleList([lin(d, 6 * d), lin(d, 3 * d), lin(d, d), lin(d, mlp), lin(mlp, d)])

    def forward(s, img, txt, vec):
        d = img.shape[-1]
        mods, qkvs = [], []
        for x, m in ((txt, s.txt), (img, s.img)):
            sh1, sc1, g1, sh2, sc2, g2 = m[0](F.silu(vec)).unsqueeze(1).chunk(6, dim=2)
            mods.append((sh1, sc1, g1, sh2, sc2, g2))
            qkvs.append(m[1](F.layer_norm(x, (d,), eps=1e-6) * (1 + sc1) + sh1))
        qkv = torch.cat(qkvs, dim=1)
        b, t, _ = qkv.shape
        q, k, v = qkv.view(b, t, 3, s.h, d // s.h).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        tt = txt.shape[1]
        outs = []
        for x, m, mo, ai in ((txt, s.txt, mods[0], a[:, :tt]), (img, s.img, mods[1], a[:, tt:])):
            sh1, sc1, g1, sh2, sc2, g2 = mo
            x = x + g1 * m[2](ai)
            y = F.layer_norm(x, (d,), eps=1e-6) * (1 + sc2) + sh2
            outs.append(x + g2 * m[4](F.gelu(m[3](y), approximate="tanh")))
        return outs


class WanBlock(torch.nn.Module):
    def __init__(s, d=1536, h=12, ffn=8960):
        super().__init__()
        s.h, s.qkv, s.o, s.cq, s.ckv, s.co = h, lin(d, 3 * d), lin(d, d), lin(d, d), lin(d, 2 * d), lin(d, d)
        s.fc1, s.fc2 = lin(d, ffn), lin(ffn, d)
        s.mod = torch.randn(1, 6, d, device=dev, dtype=dt) * 0.1

    def forward(s, x, ctx):
        b, t, d = x.shape
        hd = d // s.h
        sh1, sc1, g1, sh2, sc2, g2 = s.mod.chunk(6, dim=1)
        y = F.layer_norm(x, (d,), eps=1e-6) * (1 + sc1) + sh1
        q, k, v = s.qkv(y).view(b, t, 3, s.h, hd).permute(2, 0, 3, 1, 4)
        x = x + g1 * s.o(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d))
        q = s.cq(F.layer_norm(x, (d,), eps=1e-6)).view(b, t, s.h, hd).transpose(1, 2)
        k, v = s.ckv(ctx).view(b, -1, 2, s.h, hd).permute(2, 0, 3, 1, 4)
        x = x + s.co(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d))
        y = F.layer_norm(x, (d,), eps=1e-6) * (1 + sc2) + sh2
        return x + g2 * s.fc2(F.gelu(s.fc1(y), approximate="tanh"))


def bench(fn, iters):
    fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) * 1e3 / iters


def emit(case, mode, ms):
    print(json.dumps({"case": case, "mode": mode, "ms": round(ms, 4)}), flush=True)


@torch.no_grad()
def main():
    print(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name()}), flush=True)
    a = torch.randn(8192, 8192, device=dev, dtype=dt)
    emit("gemm_torch 8192^3", "eager", bench(lambda: a @ a.T, 5))
    cases = []
    dit = Dit().eval()
    for t in (256, 1024):
        for b in (1, 8, 32):
            if quick and b > 1:
                continue
            x, c = torch.randn(b, t, 1152, device=dev, dtype=dt), torch.randn(b, 1152, device=dev, dtype=dt)
            cases.append((f"dit_xl2 T={t} B={b}", dit, (x, c), 3))
    flux = FluxDouble().eval()
    cases.append(("flux_double_block T=4096+512", flux, (torch.randn(1, 4096, 3072, device=dev, dtype=dt),
                  torch.randn(1, 512, 3072, device=dev, dtype=dt), torch.randn(1, 3072, device=dev, dtype=dt)), 5))
    wan = WanBlock().eval()
    cases.append(("wan13b_block T=32760", wan, (torch.randn(1, 32760, 1536, device=dev, dtype=dt),
                  torch.randn(1, 512, 1536, device=dev, dtype=dt)), 2))
    for name, mod, args, iters in cases:
        emit(name, "eager", bench(lambda: mod(*args), iters))
        try:
            compiled = torch.compile(mod)
            compiled(*args)  # compile outside the timed region
            emit(name, "compile", bench(lambda: compiled(*args), iters))
        except Exception as e:  # noqa: BLE001 - report and go on
            print(json.dumps({"case": name, "mode": "compile", "error": str(e)[:300]}), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch peer of examples/bench/gpu_generate.mjs: the same glyph DiT (dit_torch.py's port of the official
architecture, weights from examples/models/glyphs), the same batch, labels, initial noise and flow-match Euler grid
(read from the file gpu_generate.mjs --save wrote), 50 steps with CFG as one 2B forward per step, timed in eager
mode and under torch.compile, f32 and bf16. Fails (exit 1) when its f32 eager latents differ from Ditto's by more than
--tolerance (max abs), so the throughput ratio compares the same computation.
Prints one JSON line per run: {"case", "mode", "dtype", "ms", "imagesPerSecond", "maxAbsVsDitto"}.
Usage: python3 examples/bench/generate_torch.py --run FILE [--device cuda] [--modes eager,compile]
                                               [--dtypes f32,bf16] [--repeat 3] [--tolerance 2e-3]"""
import argparse
import json
import math
import os
import sys
import time

import torch

# The f32 reference is true f32 on both sides (Ditto has no TF32 path).
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dit_torch import DiT, read_safetensors  # noqa: E402


# dit_torch.DiT builds its timestep frequencies on the input's device, so the same class runs on CUDA.
DeviceDiT = DiT


def sample(model, noise, labels, null_label, timesteps, dts, cfg):
    """Flow-match Euler with CFG: v = v_u + s·(v_c − v_u), x += dt·v (the pipeline's one-job step)."""
    x = noise
    y = torch.cat([labels, torch.full_like(labels, null_label)])
    B = x.shape[0]
    for t, dt in zip(timesteps.tolist(), dts.tolist()):
        out = model(torch.cat([x, x]), torch.full((2 * B,), t, device=x.device, dtype=torch.float32), y)
        cond, uncond = out[:B, : x.shape[1]], out[B:, : x.shape[1]]
        x = x + dt * (uncond + cfg * (cond - uncond))
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--weights", default=os.path.join(os.path.dirname(__file__), "..", "models", "glyphs"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--modes", default="eager,compile")
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tolerance", type=float, default=2e-3)
    a = ap.parse_args()
    dev = torch.device(a.device)
    run = read_safetensors(a.run)
    cfg_json = json.load(open(os.path.join(a.weights, "dit.json")))["kwargs"]
    base = DeviceDiT(**cfg_json).eval()
    base.load_official(read_safetensors(os.path.join(a.weights, "dit.safetensors")))
    noise, labels = run["noise"].to(dev), run["labels"].to(dev)
    timesteps, dts, cfg = run["timesteps"], run["dts"], float(run["cfg"][0])
    ditto = run["latents"].to(dev)
    B, steps = noise.shape[0], timesteps.numel()
    failed = False
    for dtype in a.dtypes.split(","):
        tdt = torch.float32 if dtype == "f32" else torch.bfloat16
        model = DeviceDiT(**cfg_json).eval().to(dev)
        model.load_state_dict({k: v for k, v in base.state_dict().items()})
        model = model.to(tdt)
        for mode in a.modes.split(","):
            fn = model if mode == "eager" else torch.compile(model)
            with torch.no_grad():
                x0 = noise.to(tdt)
                sample(fn, x0, labels, cfg_json["num_classes"], timesteps[:2], dts[:2], cfg)  # warm-up / compile
                torch.cuda.synchronize() if dev.type == "cuda" else None
                best, out = math.inf, None
                for _ in range(a.repeat):
                    start = time.perf_counter()
                    out = sample(fn, x0, labels, cfg_json["num_classes"], timesteps, dts, cfg)
                    torch.cuda.synchronize() if dev.type == "cuda" else None
                    best = min(best, (time.perf_counter() - start) * 1e3)
            diff = float((out.float() - ditto).abs().max())
            print(json.dumps({"case": f"generate glyphs B={B} {steps} steps cfg {cfg:g}", "mode": mode, "dtype": dtype,
                              "ms": round(best, 3), "imagesPerSecond": round(B / (best / 1e3), 2),
                              "maxAbsVsDitto": diff}), flush=True)
            if dtype == "f32" and mode == "eager" and not diff <= a.tolerance:
                print(f"MISMATCH: torch f32 eager latents differ from Ditto's by {diff} > {a.tolerance}", flush=True)
                failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

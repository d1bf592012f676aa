#!/usr/bin/env python3
"""PyTorch baseline for native/bench/bench_gemm.cpp: GFLOP/s (2*M*N*K / median time) of
torch.nn.functional.linear on the same DiT shapes, in float32 and bfloat16, with torch.set_num_threads(N).
Usage: gemm_torch.py [--threads N] [--m 64,256,1024,4096] [--dtype f32|bf16|both] [--quick]. Prints JSON."""
import argparse
import json
import os
import time

import torch
import torch.nn.functional as F

KN = [(192, 576), (192, 768), (768, 192), (1152, 3456), (1152, 4608), (4608, 1152), (3072, 3072)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--m", default="64,256,1024,4096")
    ap.add_argument("--dtype", default="both", choices=["f32", "bf16", "both"])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    min_seconds = 0.05 if args.quick else 0.3
    dtypes = {"f32": [("f32", torch.float32)], "bf16": [("bf16", torch.bfloat16)]}.get(
        args.dtype, [("f32", torch.float32), ("bf16", torch.bfloat16)])
    results = []
    torch.manual_seed(0)
    with torch.inference_mode():
        for name, dtype in dtypes:
            for m in [int(v) for v in args.m.split(",")]:
                for k, n in KN:
                    x = torch.rand(m, k, dtype=dtype) * 2 - 1
                    w = torch.rand(n, k, dtype=dtype) * 2 - 1
                    F.linear(x, w)  # warm-up
                    times = []
                    start = time.perf_counter()
                    while len(times) < 3 or (time.perf_counter() - start < min_seconds and len(times) < 50):
                        t0 = time.perf_counter()
                        F.linear(x, w)
                        times.append(time.perf_counter() - t0)
                    times.sort()
                    gflops = 2.0 * m * n * k / times[len(times) // 2] * 1e-9
                    results.append({"m": m, "k": k, "n": n, "dtype": name, "gflops": round(gflops, 2)})
    print(json.dumps({"threads": args.threads, "torch": torch.__version__, "results": results}, indent=1))


if __name__ == "__main__":
    main()

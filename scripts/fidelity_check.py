#!/usr/bin/env python3
"""FD / ACC of the GPU run against the CPU run (scripts/gpu-check.sh, "fidelity" part; docs/cuda.md): reads the u8
images scripts/gpu-api-check.mjs saved for 'cuda' and for the CPU, runs the glyph classifier (classifier.onnx through
onnxruntime) on both, and computes the eval protocol's metrics (shared/fixtures/glyphs/baseline.json): FD of the
128-d fc1 features against real-stats.safetensors (covariance ddof=1, float64, tr sqrt via eigh) and ACC (argmax of the
logits == label). Exits 1 when, for the f32 GPU set or the bf16 one (when saved), |FD_gpu - FD_cpu| > 1 or
|ACC_gpu - ACC_cpu| > 1 point (0.01); the CPU set is f32.
Prints one JSON line per GPU set: {"n", "set", <set>: {"fd", "acc"}, "cpu": {"fd", "acc"}, "dFd", "dAcc", "ok"}.
Usage: python3 scripts/fidelity_check.py DIR (holding fidelity-cuda[-bf16].safetensors, fidelity-cpu.safetensors)"""
import json
import os
import struct
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
GLYPHS = os.path.join(ROOT, "examples", "models", "glyphs")


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "U8": np.uint8}
    return {k: np.frombuffer(data[e["data_offsets"][0]:e["data_offsets"][1]], dtype=dtypes[e["dtype"]]).reshape(e["shape"])
            for k, e in header.items() if k != "__metadata__"}


def sqrt_psd(m):
    w, v = np.linalg.eigh(m)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet(features, mu_r, sigma_r):
    mu = features.mean(axis=0)
    sigma = np.cov(features, rowvar=False, ddof=1)
    root = sqrt_psd(sigma)
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh(root @ sigma_r @ root), 0, None)).sum()
    return float(((mu - mu_r) ** 2).sum() + np.trace(sigma) + np.trace(sigma_r) - 2 * trace_root)


def metrics(session, path, stats):
    run = read_safetensors(path)
    x = run["images"].astype(np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0
    names = [o.name for o in session.get_outputs()]
    logits, features = [], []
    for start in range(0, x.shape[0], 100):
        outs = dict(zip(names, session.run(None, {session.get_inputs()[0].name: x[start:start + 100]})))
        logits.append(outs["logits"])
        features.append(outs["features"])
    logits, features = np.concatenate(logits), np.concatenate(features).astype(np.float64)
    acc = float((logits.argmax(axis=1) == run["labels"]).mean())
    return {"fd": frechet(features, stats["mu"], stats["sigma"]), "acc": acc}, x.shape[0]


def main():
    import onnxruntime as ort

    out = sys.argv[1]
    session = ort.InferenceSession(os.path.join(GLYPHS, "classifier.onnx"), providers=["CPUExecutionProvider"])
    stats = read_safetensors(os.path.join(GLYPHS, "real-stats.safetensors"))
    cpu, n = metrics(session, os.path.join(out, "fidelity-cpu.safetensors"), stats)
    all_ok = True
    for name in ("cuda", "cuda-bf16"):  # the bf16 set is optional (older runs saved f32 only)
        path = os.path.join(out, f"fidelity-{name}.safetensors")
        if name != "cuda" and not os.path.exists(path):
            continue
        gpu, _ = metrics(session, path, stats)
        d_fd, d_acc = abs(gpu["fd"] - cpu["fd"]), abs(gpu["acc"] - cpu["acc"])
        ok = d_fd <= 1.0 and d_acc <= 0.01
        all_ok = all_ok and ok
        print(json.dumps({"n": n, "set": name, name: gpu, "cpu": cpu, "dFd": d_fd, "dAcc": d_acc, "ok": ok}))
        if not ok:
            print(f"MISMATCH: {name} FD/ACC {gpu} vs CPU f32 {cpu} (|dFD| {d_fd:.3f} > 1 or |dACC| {d_acc:.4f} > 0.01)")
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()

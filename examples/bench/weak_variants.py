# Weak checkpoints for the autoguidance exploration of docs/guidance.md ("Round 3"): the glyph DiT with its block
# attention / MLP weights truncated to a share of their rank by numpy's SVD (the reference the TS derivation,
# src/guidance/lowRank.ts, reproduces), optionally only the MLP or only the attention weights, or with Gaussian noise
# on every block matrix. Each variant is a model folder (dit.safetensors + the fixture's dit.json) for
# examples/bench/guidance-explore.mjs `weakModel:dir=…`.
#   python3 examples/bench/weak_variants.py ../shared/fixtures/glyphs /tmp/weak
import json, os, shutil, struct, sys

import numpy as np

src_dir, out_root = sys.argv[1], sys.argv[2]
raw = open(os.path.join(src_dir, "dit.safetensors"), "rb").read()
header_len = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + header_len])
base = 8 + header_len
weights = {k: np.frombuffer(raw[base + v["data_offsets"][0]:base + v["data_offsets"][1]], np.float32).reshape(v["shape"]).copy()
           for k, v in header.items() if k != "__metadata__"}
ATTN = ("attn.qkv.weight", "attn.proj.weight")
MLP = ("mlp.fc1.weight", "mlp.fc2.weight")


def save(tensors, name):
    folder = os.path.join(out_root, name)
    os.makedirs(folder, exist_ok=True)
    head, blobs, offset = {}, [], 0
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k], np.float32)
        head[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    text = json.dumps(head).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(os.path.join(folder, "dit.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    shutil.copy(os.path.join(src_dir, "dit.json"), os.path.join(folder, "dit.json"))


def low_rank(fraction, suffixes=ATTN + MLP):
    out = dict(weights)
    for k, a in weights.items():
        if k.startswith("blocks.") and k.endswith(suffixes):
            u, s, vt = np.linalg.svd(a.astype(np.float64), full_matrices=False)
            r = max(1, int(round(fraction * len(s))))
            out[k] = (u[:, :r] * s[:r]) @ vt[:r]
    return out


def noisy(relative, seed=0):
    rng, out = np.random.default_rng(seed), dict(weights)
    for k, a in weights.items():
        if k.startswith("blocks.") and k.endswith("weight") and a.ndim == 2:
            out[k] = a + rng.standard_normal(a.shape) * a.std() * relative
    return out


for name, make in [("lr25", lambda: low_rank(0.25)), ("lr40", lambda: low_rank(0.4)), ("lr50", lambda: low_rank(0.5)),
                   ("lr60", lambda: low_rank(0.6)), ("lr75", lambda: low_rank(0.75)),
                   ("lr50mlp", lambda: low_rank(0.5, MLP)), ("lr50attn", lambda: low_rank(0.5, ATTN)),
                   ("noise10", lambda: noisy(0.1))]:
    save(make(), name)
    print(name)

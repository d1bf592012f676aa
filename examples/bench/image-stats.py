# Pixel statistics of generated glyph images against the fixture's real ones (docs/guidance.md, "Round 3"): mean
# and spread of intensity, 2nd / 98th grey percentiles, mean |Laplacian| of the grey image (high-frequency energy),
# channel spread (colourfulness) and the share of clipped values (0 and 255), each as mean ± std over images.
#   node examples/bench/guidance-explore.mjs --n 500 --methods "cfg:scale=4;cfg:scale=6" --save-images /tmp/img
#   python3 examples/bench/image-stats.py ../shared/fixtures/glyphs /tmp/img/*.u8
import json, struct, sys

import numpy as np


def real_images(fixture):
    raw = open(f"{fixture}/eval-real.safetensors", "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    t = json.loads(raw[8:8 + n])["images"]
    start, end = t["data_offsets"]
    return np.frombuffer(raw[8 + n + start:8 + n + end], np.uint8).reshape(t["shape"])


def stats(x):
    x = x.astype(np.float64)
    grey = x.mean(-1)
    flat = grey.reshape(len(grey), -1)
    lap = np.abs(4 * grey[:, 1:-1, 1:-1] - grey[:, :-2, 1:-1] - grey[:, 2:, 1:-1] - grey[:, 1:-1, :-2] - grey[:, 1:-1, 2:]).mean((1, 2))
    return {"mean": x.mean((1, 2, 3)), "std": x.std((1, 2, 3)), "p2": np.percentile(flat, 2, axis=1), "p98": np.percentile(flat, 98, axis=1),
            "laplacian": lap, "channelSpread": (x.max(-1) - x.min(-1)).mean((1, 2)),
            "clip0%": (x <= 0.5).mean((1, 2, 3)) * 100, "clip255%": (x >= 254.5).mean((1, 2, 3)) * 100}


def show(name, x):
    print(f"{name:40s}", " ".join(f"{k}={v.mean():7.2f}±{v.std():6.2f}" for k, v in stats(x).items()))


show("real (eval-real)", real_images(sys.argv[1]))
for path in sys.argv[2:]:
    show(path.split("/")[-1][:40], np.fromfile(path, np.uint8).reshape(-1, 32, 32, 3))

"""Scale study (issue 26): one node-task run on a generated stochastic block model, in this process, then its peak RSS.

Usage: python tools/scale_study.py NODES EDGES FEATURES SAMPLING EPOCHS [SEED]
Prints one JSON line: nodes, edges, sampling chosen, epoch seconds, test accuracy, peak RSS (GB) of the process.
Run each configuration in its own process: ru_maxrss is the process's lifetime peak.
"""
from __future__ import annotations

import json
import resource
import sys
import tempfile
import time

import numpy as np


def sbm(n: int, e: int, f: int, classes: int = 8, p_in: float = 0.7, seed: int = 0):
    """A stochastic block model as a PyG Data: e directed edges (e/2 pairs both ways), p_in of them within a class,
    features = the class's mean (scale 0.3) plus unit noise; 10% train, 10% val, 80% test."""
    import torch
    from torch_geometric.data import Data

    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    order = np.argsort(y, kind="stable")
    starts = np.searchsorted(y[order], np.arange(classes + 1))
    m = e // 2
    src = rng.integers(0, n, m)
    dst = rng.integers(0, n, m)
    same = rng.random(m) < p_in
    c = y[src[same]]
    lo, hi = starts[c], starts[c + 1]
    dst[same] = order[lo + (rng.random(same.sum()) * (hi - lo)).astype(np.int64)]
    keep = src != dst
    src, dst = src[keep], dst[keep]
    ei = torch.from_numpy(np.stack([np.concatenate([src, dst]), np.concatenate([dst, src])]))
    means = rng.standard_normal((classes, f)).astype(np.float32) * 0.3
    x = np.empty((n, f), dtype=np.float32)
    for i in range(0, n, 65536):  # in chunks: the generator's temporaries would otherwise count in the peak RSS
        x[i:i + 65536] = means[y[i:i + 65536]] + rng.standard_normal((min(65536, n - i), f), dtype=np.float32)
    u = rng.random(n)
    return Data(x=torch.from_numpy(x), edge_index=ei, y=torch.from_numpy(y),
                train_mask=torch.from_numpy(u < 0.1), val_mask=torch.from_numpy((u >= 0.1) & (u < 0.2)),
                test_mask=torch.from_numpy(u >= 0.2))


def main() -> None:
    """Generate, train with the defaults (but the epochs and sampling given), print one JSON line."""
    n, e, f, sampling, epochs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    import torch

    torch.set_num_threads(1)
    import resnet_any

    t0 = time.monotonic()
    g = sbm(n, e, f, seed=seed)
    gen_s = time.monotonic() - t0
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    out = tempfile.mkdtemp(prefix="scale-")
    t0 = time.monotonic()
    s = resnet_any.fit(None, g, domain="graph", sampling=sampling, epochs=epochs, device="cpu", quiet=True, out=out,
                       seed=seed)
    wall = time.monotonic() - t0
    rows = [json.loads(x) for x in open(f"{out}/metrics.jsonl")]
    config = json.load(open(f"{out}/config.json"))
    print(json.dumps({"nodes": n, "edges": int(g.num_edges), "features": f, "sampling": config["sampling"],
                      "batch_size": config["batch_size"], "epochs": epochs,
                      "epoch_s": round(min(r["seconds"] for r in rows), 2), "fit_wall_s": round(wall, 1),
                      "generate_s": round(gen_s, 1), "test_accuracy": round(s["test_accuracy"], 4),
                      "peak_rss_gb_after_data": round(rss_data, 2),
                      "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
                      "notes": [x for x in s["notes"] if x.startswith("sampling")]}))


if __name__ == "__main__":
    main()

"""Why the node default trailed a plain GCN: one change at a time on the node panel, beside the same-run GCN.

`python -m resnet_any.bench.node_study --scratch DIR [--only a,b] [--changes a,b] [--json PATH]`. Each panel
graph is read through resnet_any's reader; the default model (gcn_resnet as the ("graph", "node") recipe
builds it) trains in a plain full-batch loop that keeps the epoch as the trainer does (select val: best
validation accuracy, ties to the lower validation loss), so hundreds of runs fit in minutes; the chosen rules
are then checked by the real command in `bench generalize`.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from resnet_any.bench import node_panel as P
from resnet_any.bench.generalize import cora_csv, cora_variant

BASE = dict(feat="none", decay="all", width=64, style="res", input_dropout=0.5, select="val", epochs=300)
CHANGES: dict[str, dict[str, Any]] = {
    "default": {},
    "row-norm": dict(feat="row"),
    "standardize": dict(feat="std"),
    "decay-first": dict(decay="first"),
    "width16": dict(width=16),
    "no-skip": dict(style="plain"),
    "no-input-dropout": dict(input_dropout=0.0),
    "select-val_loss": dict(select="val_loss"),
    "select-last": dict(select="last"),
    "epochs200": dict(epochs=200),
    "decay-first+no-skip": dict(decay="first", style="plain"),
    "rules": {},  # the new default: feature_norm as derive.py sets it (main)
}

TUNE = {
    "cora-csv": cora_csv,
    "cora-words3703": cora_variant("words3703"),
    "cora-random-split": cora_variant("random-split"),
    "cora-edges60": cora_variant("edges60"),
    "cora-3-classes": cora_variant("3-classes"),
    "cora-split-s1": P.written("cora-split-s1", lambda: P.cora_split(20, 1)),
    "cora-5-a-class": P.written("cora-5-a-class", lambda: P.cora_split(5, 2)),
    **{s.name: P.written(s.name, lambda s=s: P.sbm_graph(s)) for s in (P.SBM_WORDS, P.SBM_DENSE, P.SBM_HETERO)},
}
HELD = {
    "held-cora-10-a-class-edges80": P.written("held-cora-10-a-class-edges80", lambda: P.cora_split(10, 7, 0.8)),
    P.HELD_SBM.name: P.written(P.HELD_SBM.name, lambda: P.sbm_graph(P.HELD_SBM)),
}


def features(x: torch.Tensor, how: str) -> torch.Tensor:
    """The node features as the change scales them."""
    from resnet_any.data.graph_features import row_normalize

    if how == "row":
        return row_normalize(x)
    if how == "std":
        return (x - x.mean(0)) / x.std(0).clamp(min=1e-8)
    return x


def train_default(g: Any, num_classes: int, seed: int, c: dict[str, Any]) -> float:
    """Test accuracy of the default model under the changes `c`, kept epoch chosen as the trainer does."""
    import torch.nn.functional as F

    from resnet_any.domains.graph import gcn_resnet
    from resnet_any.train.run.optim import param_groups

    torch.manual_seed(seed)
    x = features(g.x.float(), c["feat"])
    # the input as a sparse tensor and its dropout here (SparseDropout's distribution): PyG's Linear takes a
    # sparse input, and the 1,433-word first layer costs a fifth of the dense product (speed only)
    sparse = float((x != 0).float().mean()) < 0.2
    xs = x.to_sparse().coalesce() if sparse else x
    model = gcn_resnet(x.shape[1], num_classes, style=c["style"], norm="none", depth=2, hidden_channels=c["width"],
                       dropout=0.5, input_dropout=0.0, cached=True)
    p_in = c["input_dropout"]
    decay = {} if c["decay"] == "all" else {"conv1": 5e-4}
    opt = torch.optim.Adam(param_groups(model, 5e-4 if c["decay"] == "all" else 0.0, decay), lr=0.01)
    y, tr, va, te = g.y, g.train_mask, g.val_mask, g.test_mask
    best, kept = None, 0.0
    for _ in range(c["epochs"]):
        model.train()
        opt.zero_grad()
        if sparse:
            v = xs.values()
            dropped = torch.sparse_coo_tensor(xs.indices(), v * (torch.rand_like(v) >= p_in) / (1 - p_in), xs.shape)
        else:
            dropped = F.dropout(xs, p_in)
        F.cross_entropy(model(dropped, g.edge_index)[tr], y[tr]).backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            out = model(xs, g.edge_index)
        acc = (out[va].argmax(1) == y[va]).float().mean().item()
        loss = F.cross_entropy(out[va], y[va]).item()
        key = {"val": (acc, -loss), "val_loss": (-loss,), "last": (0,)}[c["select"]]
        if best is None or key > best or c["select"] == "last":
            best, kept = key, (out[te].argmax(1) == y[te]).float().mean().item()
    return kept


def main() -> None:
    """Run the study and print one line per graph and change (mean of seeds 0-2 against the GCN's)."""
    from resnet_any.bench.graph_refs import train_gcn
    from resnet_any.data import load_dataset

    p = argparse.ArgumentParser()
    p.add_argument("--scratch", required=True)
    p.add_argument("--only", default="")
    p.add_argument("--changes", default=",".join(CHANGES))
    p.add_argument("--held-out", action="store_true", help="the held-out graphs instead of the tuning panel")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    graphs = HELD if args.held_out else TUNE
    wanted = [w for w in args.only.split(",") if w]
    rows = []
    for name, build in graphs.items():
        if wanted and not any(w in name for w in wanted):
            continue
        path = build(Path("/nonexistent"), scratch)
        splits = load_dataset("graph", str(path))
        t = time.perf_counter()
        cache = scratch / f"{name}.gcn.json"  # the reference is the same for every change: computed once
        if not cache.is_file():
            cache.write_text(json.dumps(statistics.mean(train_gcn(splits.graph, s) for s in range(3))))
        ref = json.loads(cache.read_text())
        print(f"{name}: GCN {ref:.4f} ({time.perf_counter() - t:.0f} s)", flush=True)
        for change in args.changes.split(","):
            t = time.perf_counter()
            c = {**BASE, **CHANGES[change]}
            if change == "rules":
                from resnet_any.train.plan.derive import derive, profile

                d = derive(profile(splits))
                c.update(feat={"standardize": "std"}.get(d["feature_norm"], d["feature_norm"]))
                print(f"  rules: {d}", flush=True)
            accs = [train_default(splits.graph, splits.num_classes, s, c) for s in range(3)]
            mean = statistics.mean(accs)
            rows.append(dict(graph=name, change=change, acc=mean, seeds=accs, gcn=ref, gap=mean - ref))
            print(f"  {change:18s} {mean:.4f}  gap {100 * (mean - ref):+.1f}  ({time.perf_counter() - t:.0f} s)",
                  flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

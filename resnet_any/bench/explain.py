"""explain: the deletion test of each domain's default attribution against random deletion (digits, GunPoint, Cora).

Deleting scattered single positions is out of distribution for a convolution and hurts whatever is deleted,
so images and series have a fair control too: the map's own mask shifted by a random offset. Each is measured
with the deleted positions set to zero and to the dataset mean.
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch

from resnet_any.bench.table import make_row
from resnet_any.errors import UserError

if TYPE_CHECKING:
    from resnet_any.domains.checkpoint_info import CheckpointInfo

HELP = ("Deletion test of explanations: the drop in the predicted class's probability when the top 10/20/50% "
        "attributed pixels or time steps become zero or the dataset mean, beside the same mask shifted by a random "
        "offset and scattered random positions (nodes' features: the mean node, beside random nodes)")

# domain -> the embedded dataset its default model is trained on, with the recipe's own options
CASES = {"image": "digits", "series": "gunpoint", "graph": "cora"}
# what a deleted pixel or time step becomes, in the network's input space
BASELINES = ("zero", "mean")
# deletions of the same size: the map's top k, that mask rolled by a random offset (the control of the same
# contiguous shape, so as in distribution for a convolution as the map's own), k positions drawn one by one
CONTROLS = ("map", "shifted", "scattered")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the explain suite."""
    p.add_argument("--domains", default=",".join(CASES), help=f"comma list of {', '.join(CASES)}")
    p.add_argument("--dataset", action="append", default=[], metavar="DOMAIN=NAME",
                   help="another dataset for a domain, a name or a path as --dataset takes (e.g. series=ucr/Plane "
                        "for a folder of train.csv/test.csv); repeat for several domains")
    p.add_argument("--samples", type=int, default=200, help="test images and series per domain, at most")
    p.add_argument("--nodes", type=int, default=100,
                   help="Cora test nodes explained (GNNExplainer took ~3 s a node on the 2-core dev machine)")
    p.add_argument("--method", help="attribution method (default: each domain's; see resnet_any.explain)")
    p.add_argument("--seed", type=int, default=0, help="training seed and the random deletions' seed")
    p.add_argument("--quick", action="store_true", help="smoke mode: 3 epochs, 20 samples, 2 Cora nodes")


def train_checkpoint(domain: str, dataset: str, out: Path, seed: int, epochs: int | None = None) -> Path:
    """Train the domain's recipe on `dataset` quietly into `out` (`epochs`: None for the recipe's); the checkpoint kept."""
    from resnet_any.train import TrainConfig, Trainer

    for _ in Trainer(TrainConfig(domain=domain, dataset=dataset, seed=seed, quiet=True, out=str(out),
                                 device="cpu", epochs=epochs)).run():
        pass
    return out / "best.pt"


def _inputs(split: Any, domain: str, data_meta: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """A grid split's inputs as the network sees them (images normalised as training did) and labels."""
    from resnet_any.data import normalize

    x = split.x if hasattr(split, "x") else torch.stack([split[i][0] for i in range(len(split))])
    y = split.y if hasattr(split, "y") else torch.as_tensor([int(split[i][1]) for i in range(len(split))])
    return (normalize(x, data_meta) if domain == "image" else x.float()), y


def shifted(mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each sample's mask (N, *spatial) rolled circularly by a random offset along every spatial axis, never by none.

    The same number of positions in the same shape (runs of time steps, blocks of pixels), somewhere else.
    """
    dims = tuple(range(mask.dim() - 1))
    out = torch.empty_like(mask)
    for i in range(len(mask)):
        offset = [0] * len(dims)
        while not any(offset) and any(s > 1 for s in mask.shape[1:]):
            offset = [int(torch.randint(0, s, (1,), generator=generator)) for s in mask.shape[1:]]
        out[i] = mask[i].roll(offset, dims)
    return out


def _prob(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.softmax(model(x).float(), 1).gather(1, target[:, None])[:, 0]


def grid_controls(model: torch.nn.Module, x: torch.Tensor, attribution: torch.Tensor,
                  baselines: dict[str, torch.Tensor], target: torch.Tensor, fractions: Sequence[float] = (0.1, 0.2, 0.5),
                  repeats: int = 3, generator: torch.Generator | None = None) -> dict[str, dict[float, dict[str, float]]]:
    """{baseline: {k: {control: mean probability drop}}} of deleting k of the positions (CONTROLS) by each baseline.

    x: prepared inputs (N, C, *spatial); attribution: (N, *spatial); baselines: what a deleted position
    becomes, each (C, *spatial) or broadcastable; target: (N,) classes. The random masks (`repeats` draws a
    sample) are drawn once and deleted by every baseline, so the baselines compare on the same positions.
    """
    model.eval()
    n, spatial = x.shape[0], attribution.shape[1:]
    positions = attribution[0].numel()
    p0 = _prob(model, x, target)
    order = attribution.reshape(n, -1).argsort(1, descending=True)
    flat = x.reshape(n, x.shape[1], -1)
    out: dict[str, dict[float, dict[str, float]]] = {name: {} for name in baselines}
    for frac in fractions:
        k = max(1, math.ceil(frac * positions))
        top = torch.zeros(n, positions, dtype=torch.bool, device=x.device).scatter_(1, order[:, :k], True)
        masks = {"map": [top],
                 "shifted": [shifted(top.view(n, *spatial), generator).view(n, -1) for _ in range(repeats)],
                 "scattered": [torch.zeros_like(top).scatter_(1, torch.stack(
                     [torch.randperm(positions, generator=generator)[:k] for _ in range(n)]).to(x.device), True)
                     for _ in range(repeats)]}
        for name, baseline in baselines.items():
            base = baseline.expand_as(x[0]).reshape(1, x.shape[1], -1)

            def drop(mask: torch.Tensor, base: torch.Tensor = base) -> float:
                deleted = torch.where(mask[:, None, :], base, flat).reshape(x.shape)
                return (p0 - _prob(model, deleted, target)).mean().item()

            out[name][frac] = {c: sum(map(drop, masks[c])) / len(masks[c]) for c in CONTROLS}
    return out


def grid_case(model: torch.nn.Module, meta: CheckpointInfo, splits: Any, samples: int, method: str | None,
              generator: torch.Generator) -> tuple[dict, dict]:
    """Deletion results for images or series ({baseline: {k: {control: drop}}}), and facts for the note."""
    from resnet_any.explain import attribute
    from resnet_any.explain.grid import default_method

    x, y = _inputs(splits.test, meta.domain, meta.data or {})
    pick = torch.randperm(len(x), generator=generator)[:samples]
    x, y = x[pick], y[pick]
    train_x, _ = _inputs(splits.train, meta.domain, meta.data or {})
    with torch.no_grad():
        pred = model(x).argmax(1)
    maps = attribute(model, x, target=pred, method=method)
    baselines = {"zero": torch.zeros_like(x[0]), "mean": train_x.mean(0)}
    result = grid_controls(model, x, maps, {b: baselines[b] for b in BASELINES}, pred, generator=generator)
    return result, {"n": len(x), "accuracy": (pred == y).float().mean().item(),
                    "method": method or default_method(model, x)}


def graph_case(model: torch.nn.Module, splits: Any, samples: int, method: str | None,
               generator: torch.Generator) -> tuple[dict, dict]:
    """Deletion results for test nodes of a node-classification graph, averaged over nodes."""
    from torch_geometric.utils import k_hop_subgraph

    from resnet_any.explain import explain_graph
    from resnet_any.explain.faithfulness import graph_deletion
    from resnet_any.explain.graph import default_graph_method, hops

    g = splits.graph
    x, edge_index = g.x.float(), g.edge_index
    test = g.test_mask.nonzero().view(-1)
    nodes = test[torch.randperm(len(test), generator=generator)[:samples]]
    baseline = x.mean(0)
    k = hops(model)
    total: dict[float, list[float]] = {}
    correct = 0
    for v in nodes.tolist():
        a = explain_graph(model, x, edge_index, index=v, method=method)
        outer, sub_edges, mapping, _ = k_hop_subgraph(v, k + 1, edge_index, relabel_nodes=True, num_nodes=len(x))
        correct += int(a.target == int(g.y[v]))

        def prob(features: torch.Tensor, outer=outer, sub_edges=sub_edges, mapping=mapping, cls=a.target) -> float:
            with torch.no_grad():
                return torch.softmax(model(features[outer], sub_edges), 1)[mapping[0], cls].item()

        for frac, (ranked, random) in graph_deletion(prob, x, a.nodes, a.node_mask, baseline,
                                                     generator=generator).items():
            total.setdefault(frac, [0.0, 0.0])
            total[frac][0] += ranked / len(nodes)
            total[frac][1] += random / len(nodes)
    return ({f: tuple(v) for f, v in total.items()},
            {"n": len(nodes), "accuracy": correct / len(nodes), "method": method or default_graph_method()})


def run(args: argparse.Namespace, log: Callable[[str], None]) -> list[dict]:
    """Train each domain's default model, explain its test samples, and return one row per domain and k."""
    from resnet_any.inference.checkpoint_data import checkpoint_data
    from resnet_any.domains.weights import load_checkpoint

    domains = [d.strip() for d in args.domains.split(",") if d.strip()]
    for d in domains:
        if d not in CASES:
            raise UserError(f"unknown domain {d!r} in --domains; valid: {', '.join(CASES)}")
    cases = dict(CASES)
    for given in args.dataset:
        domain, _, name = given.partition("=")
        if domain not in CASES or not name:
            raise UserError(f"--dataset {given!r}: give DOMAIN=NAME with DOMAIN one of {', '.join(CASES)}")
        cases[domain] = name
    for name in ("samples", "nodes"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} must be >= 1, got {getattr(args, name)}")
    samples, nodes, epochs = (20, 2, 3) if args.quick else (args.samples, args.nodes, None)
    rows = []
    for domain in domains:
        dataset = cases[domain]
        generator = torch.Generator().manual_seed(args.seed)
        with tempfile.TemporaryDirectory(prefix="resnet_any_explain_") as tmp:
            start = time.perf_counter()
            path = train_checkpoint(domain, dataset, Path(tmp) / "run", args.seed, epochs)
            trained = time.perf_counter() - start
            model, meta = load_checkpoint(path, "cpu")
            splits = checkpoint_data(path, meta)
        start = time.perf_counter()
        if domain == "graph":
            result, facts = graph_case(model, splits, nodes, args.method, generator)
        else:
            result, facts = grid_case(model, meta, splits, samples, args.method, generator)
        seconds = time.perf_counter() - start
        dataset = Path(dataset).name  # a folder given by --dataset is named by its own name
        log(f"  {dataset}: {meta.model} trained in {trained:.0f} s, test accuracy {facts['accuracy']:.3f} on the "
            f"{facts['n']} explained; {facts['method']} + deletion in {seconds:.0f} s")
        common = dict(method=facts["method"], samples=facts["n"], model=meta.model,
                      accuracy=round(facts["accuracy"], 4), seconds=round(seconds, 1))
        if domain == "graph":  # a neighbourhood has no grid to shift a mask along: random nodes are the control
            for frac, (ranked, random) in result.items():
                rows.append(make_row("explain", f"{dataset} k={frac:.0%} mean", "prob_drop", ranked, random,
                                     "fraction", goal=random, baseline="mean", scattered=random, **common,
                                     note=f"anchor: random {frac:.0%} of the nodes; {facts['method']}, "
                                          f"{facts['n']} test nodes"))
            continue
        for baseline, by_frac in result.items():
            for frac, drops in by_frac.items():
                rows.append(make_row("explain", f"{dataset} k={frac:.0%} {baseline}", "prob_drop", drops["map"],
                                     drops["shifted"], "fraction", goal=drops["shifted"], baseline=baseline,
                                     shifted=drops["shifted"], scattered=drops["scattered"], **common,
                                     note=f"anchor: the map's mask shifted; scattered {drops['scattered']:.3f}; "
                                          f"deleted = {baseline}; {facts['method']}, {facts['n']} test samples"))
    return rows

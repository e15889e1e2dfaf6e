"""Graph-classification sets for the generalize panel, written as a user hands them over (graphs.csv + edges.csv +
nodes.csv), and their panel cases.

The issue's protein set (TU PROTEINS-like: node labels and a continuous node attribute) is not here, so the panel
varies what such sets vary: MUTAG (real molecules, 188 graphs, 7 atom types one-hot, no attribute); graphs cut
from Cora (2-hop ego-nets labelled by their centre paper's class, bag-of-words features: many continuous-ish
columns, 7 classes); and generated "protein-like" sets (below) whose classes differ by size, density or motif
counts, with label noise so none is trivially separable. A "seeded split" of a set is the same graphs written
in an order shuffled by the seed: resnet_any's reader carves its fixed-seed split from the file order, so each
seed puts other graphs in test, as a user's three exports of one set would.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

# (graphs, per graph: (node features (n, f) float array, undirected edges (m, 2) int array, label str))
Graph = tuple[np.ndarray, np.ndarray, str]


def write_graph_tables(graphs: list[Graph], folder: Path, seed: int) -> Path:
    """Write graphs.csv, edges.csv (each undirected edge once) and nodes.csv, graphs in an order shuffled by `seed`."""
    part = folder.with_suffix(".part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    order = np.random.default_rng(seed).permutation(len(graphs))
    width = graphs[0][0].shape[1]
    g_lines, e_lines, n_lines = ["graph_id,label"], ["graph_id,source,target"], [
        "graph_id,id," + ",".join(f"f{j}" for j in range(width))]
    for gid in order:
        x, edges, label = graphs[gid]
        g_lines.append(f"g{gid},{label}")
        e_lines.extend(f"g{gid},{a},{b}" for a, b in edges)
        n_lines.extend(f"g{gid},{i}," + ",".join(f"{v:.4g}" for v in row) for i, row in enumerate(x))
    for name, lines in (("graphs.csv", g_lines), ("edges.csv", e_lines), ("nodes.csv", n_lines)):
        (part / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    part.rename(folder)
    return folder


def mutag_graphs(shared: Path) -> list[Graph]:
    """MUTAG read by PyG's TUDataset from a copy of its raw files (PyG writes processed/ beside raw/)."""
    from torch_geometric.datasets import TUDataset

    with tempfile.TemporaryDirectory(prefix="mutag_") as tmp:
        shutil.copytree(shared / "TUDataset" / "MUTAG" / "raw", Path(tmp) / "MUTAG" / "raw")
        data = TUDataset(tmp, "MUTAG")
        out = []
        for g in data:
            ei = g.edge_index.numpy().T
            out.append((g.x.numpy(), ei[ei[:, 0] < ei[:, 1]], f"class{int(g.y)}"))
    return out


def cora_egonets(count: int = 700, cap: int = 30, words: int = 200, seed: int = 0) -> list[Graph]:
    """2-hop ego-nets of `count` random Cora papers, labelled by the centre's class (the model is not told the centre).

    Features: the `words` most frequent of Cora's 1,433 binary word columns (all 1,433 as CSV text would be
    ~100 MB); a neighbourhood over `cap` nodes keeps the centre, its citations and a random part of 2 hops.
    """
    import torch
    from torch_geometric.utils import k_hop_subgraph

    from resnet_any.data import load_dataset

    g = load_dataset("graph", "cora").graph
    x = (g.x > 0).float()
    top = torch.argsort(x.sum(0), descending=True)[:words]
    x = x[:, top].numpy()
    rng = np.random.default_rng(seed)
    out = []
    for centre in rng.choice(g.num_nodes, size=count, replace=False):
        one, _, _, _ = k_hop_subgraph(int(centre), 1, g.edge_index, num_nodes=g.num_nodes)
        two, _, _, _ = k_hop_subgraph(int(centre), 2, g.edge_index, num_nodes=g.num_nodes)
        one = [int(centre)] + [int(v) for v in one if int(v) != int(centre)]
        rest = [int(v) for v in two if int(v) not in set(one)]
        rng.shuffle(rest)
        keep = (one + rest)[:cap]
        index = {v: i for i, v in enumerate(keep)}
        src, dst = g.edge_index.numpy()
        mask = np.isin(src, keep) & np.isin(dst, keep) & (src < dst)
        edges = np.array([[index[a], index[b]] for a, b in zip(src[mask], dst[mask])], dtype=np.int64).reshape(-1, 2)
        out.append((x[keep], edges, f"topic{int(g.y[centre])}"))
    return out


# Generated protein-like sets. A protein is a chain of secondary-structure elements (PROTEINS' nodes: helix, sheet,
# turn) folded in space; PROTEINS links elements that are neighbours on the chain or close in space. Here a chain
# is a 3D random walk (step 1); nodes closer than `radius` are linked; node types follow a Markov chain along it;
# the continuous attribute is the element's length (Poisson, by type). Classes ("enzyme" or not) differ by what
# `PROTEIN_KINDS` says, every shift overlapping the other class's range; `noise` of the labels are flipped.
PROTEIN_KINDS = {
    # size and compactness: class 1 folds tighter (shorter steps) and is larger on average
    "size-density": dict(n=(12, 40), n_shift=8, step=(1.0, 0.8), sheet=(0.3, 0.3), noise=0.12),
    # composition and motifs only: same sizes and folding, class 1 has more sheets (sheet triangles, pairs)
    "motif": dict(n=(15, 35), n_shift=0, step=(0.9, 0.9), sheet=(0.25, 0.42), noise=0.1),
    # held out (never tuned on): small shifts of all three together, 3 classes
    "mixed-3class": dict(n=(12, 50), n_shift=6, step=(1.0, 0.9, 0.8), sheet=(0.25, 0.33, 0.28), noise=0.1),
}


def protein_like(kind: str, count: int, seed: int = 0, radius: float = 1.6) -> list[Graph]:
    """`count` generated protein-like graphs of PROTEIN_KINDS[kind]: features = one-hot type (3) + length."""
    spec = PROTEIN_KINDS[kind]
    classes = len(spec["step"])
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        c = i % classes
        lo, hi = spec["n"]
        n = int(rng.integers(lo, hi)) + spec["n_shift"] * c
        steps = rng.normal(size=(n, 3))
        steps *= spec["step"][c] / np.linalg.norm(steps, axis=1, keepdims=True)
        pos = np.cumsum(steps, axis=0)
        dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
        a, b = np.nonzero(np.triu(dist < radius, 1))
        p_sheet = spec["sheet"][c]
        kinds = np.empty(n, dtype=np.int64)
        kinds[0] = 0
        for v in range(1, n):  # elements of one type come in runs: stay with 0.5, else draw the type's share
            kinds[v] = kinds[v - 1] if rng.random() < 0.5 else rng.choice(3, p=[0.75 - p_sheet, p_sheet, 0.25])
        length = rng.poisson(np.array([10.0, 6.0, 4.0])[kinds]).astype(np.float64)
        x = np.concatenate([np.eye(3)[kinds], length[:, None]], axis=1)
        label = int(rng.integers(classes)) if rng.random() < spec["noise"] * classes / (classes - 1) else c
        out.append((x, np.stack([a, b], 1), f"class{label}"))
    return out


def graph_set(name: str, seed: int) -> Callable[[Path, Path], Path]:
    """A panel builder (shared data root, scratch dir) -> folder of set `name`, its graphs in seed `seed`'s order."""

    def build(shared: Path, scratch: Path) -> Path:
        folder = scratch / f"graphs-{name}-order{seed}"
        if folder.is_dir():
            return folder
        if name == "mutag":
            graphs = mutag_graphs(shared)
        elif name == "cora-ego":
            graphs = cora_egonets()
        else:
            kind, count = name.rsplit("-", 1)
            graphs = protein_like(kind, int(count))
        return write_graph_tables(graphs, folder, seed)

    return build


# name -> (what it stands for, held out: never looked at while choosing the rules)
GRAPH_SETS = {
    "mutag": ("MUTAG, 188 molecules, 7 atom types", False),
    "cora-ego": ("Cora 2-hop ego-nets, 700 graphs, 7 topics, 200 words", False),
    "size-density-1000": ("protein-like, classes by size and folding, 1,000 graphs", False),
    "motif-400": ("protein-like, classes by sheet composition, 400 graphs", False),
    "mixed-3class-600": ("protein-like, 3 classes, small shifts of all, 600 graphs", True),
}


GIN_NOTE = "same-run GIN-0 (Xu et al. 2019 recipe, bench/gin_ref.py) on the same split"


def graph_cases(case: type, seeds: tuple[int, ...] = (0, 1, 2)) -> tuple:
    """generalize's Case for every set and seeded split (the set written in seed s's order, trained with --seed s).

    The reference is the same-run GIN: where the Case has a `baseline` (a callable (dataset_path, seed) -> test
    accuracy computed in the run) it is gin_reference; the fixed `reference` stays None, as no published figure
    exists for these sets.
    """
    from resnet_any.bench.gin_ref import gin_reference

    def wiring(seed: int) -> dict:
        # a Case with a baseline runs the default and the baseline at its seeds; an older one takes the flag
        if "baseline" in getattr(case, "__dataclass_fields__", {}):
            return dict(baseline=gin_reference, seeds=(seed,))
        return dict(extra=("--seed", str(seed)))

    return tuple(case(f"{what}, split {seed} (graphs.csv)", "graph", graph_set(name, seed), None,
                      GIN_NOTE + ("; held out" if held else ""), **wiring(seed))
                 for name, (what, held) in GRAPH_SETS.items() for seed in seeds)

"""The node-classification panel's graphs: Cora re-split and reshaped, and stochastic block models with a meaning.

Only Cora can be read here (no other Planetoid graph is downloadable), so the panel varies what separates
citation graphs from each other (label rate, vocabulary, edge density, class count, homophily, feature kind)
on Cora and on generated graphs. Every builder writes nodes.csv + edges.csv with a split column, as a user
hands a graph over, so the default run and the same-run reference read the same files through the same reader.

Generated graphs (`sbm`): a degree-corrected stochastic block model (Karrer & Newman 2011): each node has a
class and a Pareto activity (citation graphs' heavy-tailed degrees); an edge's end is a node of the same class
with probability `homophily`, else of another class, drawn by activity. Features are either a sparse binary bag
of words (a Zipf vocabulary in which each class uses its own topic words more often: Cora-like abstracts) or
dense signed measurements (class means plus noise, each column on its own scale and offset, as a user's
table of sensor or survey columns comes). Splits are Planetoid's: `per_class` labels a class, 500 validation
and 1,000 test nodes drawn at random from the rest.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch


@dataclass(frozen=True)
class SBM:
    """A generated graph's shape: see the module's docstring for the meaning of each field."""

    name: str
    nodes: int
    classes: int
    degree: float            # mean degree
    homophily: float         # share of edge ends in the same class
    features: str            # "words" (sparse binary) or "dense" (signed, mixed scales)
    width: int               # vocabulary size or number of columns
    signal: float            # words: topic words' boost; dense: class-mean spread in noise units
    per_class: int = 20
    seed: int = 0


def _planetoid_masks(y: torch.Tensor, classes: int, per_class: int, gen: torch.Generator,
                     val: int = 500, test: int = 1000) -> dict[str, torch.Tensor]:
    """Train: `per_class` random nodes a class; validation and test: random nodes of the rest."""
    n = y.numel()
    order = torch.randperm(n, generator=gen)
    train = torch.zeros(n, dtype=torch.bool)
    for c in range(classes):
        train[order[y[order] == c][:per_class]] = True
    rest = order[~train[order]]
    masks = {"train_mask": train, "val_mask": torch.zeros(n, dtype=torch.bool),
             "test_mask": torch.zeros(n, dtype=torch.bool)}
    masks["val_mask"][rest[:val]] = True
    masks["test_mask"][rest[val:val + test]] = True
    return masks


def sbm_graph(s: SBM):
    """A PyG Data of the SBM `s` (x, y, undirected edge_index, Planetoid-style masks)."""
    from torch_geometric.data import Data
    from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

    gen = torch.Generator().manual_seed(s.seed)
    y = torch.randint(s.classes, (s.nodes,), generator=gen)
    # Pareto(2.5) activity: heavy-tailed degrees with a finite mean, as citation counts
    activity = (1 - torch.rand(s.nodes, generator=gen)) ** (-1 / 1.5)
    m = int(s.nodes * s.degree / 2)
    src = torch.multinomial(activity, m, replacement=True, generator=gen)
    same = torch.rand(m, generator=gen) < s.homophily
    shift = torch.randint(1, s.classes, (m,), generator=gen)
    want = torch.where(same, y[src], (y[src] + shift) % s.classes)
    dst = torch.empty(m, dtype=torch.long)
    for c in range(s.classes):
        members = (y == c).nonzero().flatten()
        pick = want == c
        dst[pick] = members[torch.multinomial(activity[members], int(pick.sum()), replacement=True, generator=gen)]
    edge_index, _ = remove_self_loops(torch.stack([src, dst]))
    edge_index = coalesce(to_undirected(edge_index), num_nodes=s.nodes)
    if s.features == "words":
        rank = torch.arange(1, s.width + 1, dtype=torch.float)
        base = 1 / rank  # Zipf's law over the vocabulary
        probs = base.repeat(s.classes, 1)
        for c in range(s.classes):  # each class's topic: 5% of the vocabulary used `signal` times more often
            topic = torch.randperm(s.width, generator=gen)[: s.width // 20]
            probs[c, topic] *= s.signal
        probs /= probs.sum(1, keepdim=True)
        length = torch.poisson(torch.full((s.nodes,), 18.0), generator=gen).long().clamp(min=1)
        x = torch.zeros(s.nodes, s.width)
        for i in range(s.nodes):
            x[i, torch.multinomial(probs[y[i]], int(length[i]), replacement=True, generator=gen)] = 1.0
    else:
        means = torch.randn(s.classes, s.width, generator=gen) * s.signal
        x = means[y] + torch.randn(s.nodes, s.width, generator=gen)
        scale = torch.exp(torch.randn(s.width, generator=gen) * 1.5)   # columns in their own units
        offset = torch.randn(s.width, generator=gen) * 10 * scale
        x = x * scale + offset
    return Data(x=x, y=y, edge_index=edge_index,
                **_planetoid_masks(y, s.classes, s.per_class, gen))


def cora_split(per_class: int, seed: int, edges: float = 1.0):
    """Cora with `per_class` random labels a class (Planetoid's 500/1,000 for val/test), `edges` of its citations kept."""
    import copy

    from resnet_any.data import load_dataset

    base = load_dataset("graph", "cora").graph
    g, gen = copy.copy(base), torch.Generator().manual_seed(seed)
    for k, v in _planetoid_masks(base.y, int(base.y.max()) + 1, per_class, gen).items():
        g[k] = v
    if edges < 1.0:
        src, dst = base.edge_index
        once = src < dst
        keep = torch.rand(int(once.sum()), generator=gen) < edges
        s, d = src[once][keep], dst[once][keep]
        g.edge_index = torch.stack([torch.cat([s, d]), torch.cat([d, s])])
    return g


def own_data():
    """demos/own_data.py, the writer of users' file layouts."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "demos" / "own_data.py"
    spec = importlib.util.spec_from_file_location("own_data", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def written(name: str, make: Callable[[], object]) -> Callable[[Path, Path], Path]:
    """A generalize builder: the graph `make()` returns, written once under scratch/name as nodes.csv + edges.csv."""

    def build(shared: Path, scratch: Path) -> Path:
        root = scratch / name
        if not root.is_dir():
            own_data().write_node_tables(make(), root.with_suffix(".part"))
            root.with_suffix(".part").rename(root)
        return root

    return build


def sbm_builder(s: SBM) -> Callable[[Path, Path], Path]:
    """A generalize builder of the generated graph `s`."""
    return written(s.name, lambda: sbm_graph(s))


# Tuning panel's generated graphs, and two held-out graphs fixed before any rule was chosen (never tuned on)
SBM_WORDS = SBM("sbm-words", 3000, 6, 4.0, 0.8, "words", 1000, 6.0, seed=1)
SBM_DENSE = SBM("sbm-dense", 2000, 5, 6.0, 0.7, "dense", 32, 0.35, seed=2)
SBM_HETERO = SBM("sbm-heterophily", 2000, 5, 6.0, 0.3, "words", 1000, 8.0, seed=3)
HELD_SBM = SBM("held-sbm-words10", 5000, 10, 6.0, 0.7, "words", 2000, 5.0, per_class=20, seed=11)

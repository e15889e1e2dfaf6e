"""A stochastic block model with class-dependent features: the graphs `bench graphs` scales over, written as files.

The graph (undirected, no self-loops, no repeated edges):
- `classes` blocks of equal size (they differ by at most one node), each node's block its class label;
- each pair of nodes of one block is an edge with probability `p_in`, each pair of two blocks with `p_out`.
  Edges are drawn as counts, not pair by pair (a million nodes have 5e11 pairs): the number of within-block
  edges is Poisson with mean p_in x (within-block pairs), their endpoints uniform within a block chosen in
  proportion to its pairs; between blocks likewise with uniform ordered pairs of different blocks. Repeats and
  self-loops are dropped, a fraction of order (edges / pairs) at these densities. So the expected share of
  within-block edges (edge homophily) is p_in P_in / (p_in P_in + p_out P_out), P_in and P_out the pair counts;
  with equal blocks that is p_in / (p_in + (classes - 1) p_out), and p_in / (p_in + p_out) for two classes.
- features: `features` numbers per node, N(mean of its class, 1) with each class mean drawn once from
  N(0, signal^2): alone they tell the classes apart only in part, and averaging neighbours (what a GCN does)
  helps as much as the edges are homophilous.
`for_degree` picks p_in and p_out for a mean degree and an edge homophily. Splits: a seeded random share of
the nodes for train, for val and the rest for test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}


@dataclass
class SBMGraph:
    """Features (N, F) float32, labels (N,) long, undirected edges (2, M) with source < target, split per node."""

    x: Tensor
    y: Tensor
    edges: Tensor
    split: list[str]


def for_degree(n: int, classes: int, degree: float, homophily: float) -> tuple[float, float]:
    """(p_in, p_out) giving a mean degree and an expected share of within-block edges, for equal blocks."""
    sizes = block_sizes(n, classes)
    pairs_in = sum(s * (s - 1) / 2 for s in sizes)
    pairs_out = n * (n - 1) / 2 - pairs_in
    edges = n * degree / 2
    return homophily * edges / pairs_in, (1 - homophily) * edges / pairs_out


def block_sizes(n: int, classes: int) -> list[int]:
    """Block sizes that differ by at most one."""
    return [n // classes + (1 if c < n % classes else 0) for c in range(classes)]


def generate(n: int, classes: int = 5, p_in: float | None = None, p_out: float | None = None, features: int = 128,
             signal: float = 0.1, degree: float = 20.0, homophily: float = 0.7, train: float = 0.1, val: float = 0.1,
             seed: int = 0) -> SBMGraph:
    """A seeded SBM graph (module docstring); p_in/p_out default to for_degree(n, classes, degree, homophily)."""
    if p_in is None or p_out is None:
        p_in, p_out = for_degree(n, classes, degree, homophily)
    g = torch.Generator().manual_seed(seed)
    sizes = torch.tensor(block_sizes(n, classes))
    # node i's block: a seeded permutation of the equal-sized blocks, so ids carry no class
    y = torch.repeat_interleave(torch.arange(classes), sizes)[torch.randperm(n, generator=g)]
    members = torch.argsort(y, stable=True)  # nodes grouped by block
    starts = torch.cumsum(sizes, 0) - sizes
    pairs_in = (sizes * (sizes - 1) / 2).double()
    m_in = int(torch.poisson(torch.tensor(p_in * float(pairs_in.sum())), generator=g))
    block = torch.multinomial(pairs_in / pairs_in.sum(), m_in, replacement=True, generator=g) if m_in else \
        torch.zeros(0, dtype=torch.long)
    a = members[starts[block] + (torch.rand(m_in, generator=g) * sizes[block]).long()]
    b = members[starts[block] + (torch.rand(m_in, generator=g) * sizes[block]).long()]
    pairs_out = n * (n - 1) / 2 - float(pairs_in.sum())
    m_out = int(torch.poisson(torch.tensor(p_out * pairs_out), generator=g))
    # uniform ordered pairs, kept when their blocks differ: uniform over the between-block pairs
    draw = int(m_out * n * n / max(2 * pairs_out, 1) * 1.1) + 16
    u, v = torch.randint(n, (draw,), generator=g), torch.randint(n, (draw,), generator=g)
    keep = (y[u] != y[v]).nonzero().view(-1)[:m_out]
    src, dst = torch.cat([a, u[keep]]), torch.cat([b, v[keep]])
    lo, hi = torch.minimum(src, dst), torch.maximum(src, dst)
    key = torch.unique(lo[lo != hi] * n + hi[lo != hi])
    edges = torch.stack([key // n, key % n])
    means = torch.randn(classes, features, generator=g) * signal
    x = means[y] + torch.randn(n, features, generator=g)
    order = torch.randperm(n, generator=g)
    n_train, n_val = int(round(train * n)), int(round(val * n))
    split = ["test"] * n
    for i in order[:n_train].tolist():
        split[i] = "train"
    for i in order[n_train:n_train + n_val].tolist():
        split[i] = "val"
    return SBMGraph(x=x, y=y, edges=edges, split=split)


def edge_homophily(graph: SBMGraph) -> float:
    """The share of edges whose two ends are of one class."""
    s, t = graph.edges
    return float((graph.y[s] == graph.y[t]).double().mean()) if graph.edges.shape[1] else math.nan


def write(graph: SBMGraph, folder: str | Path, parquet: bool) -> Path:
    """The graph as a node-classification folder resnet_any reads: nodes.{csv,parquet} (id, label, split, f0..)
    and edges.{csv,parquet} (source, target)."""
    import pandas as pd

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n, f = graph.x.shape
    nodes = pd.DataFrame(graph.x.numpy(), columns=[f"f{j}" for j in range(f)])
    nodes.insert(0, "split", graph.split)
    nodes.insert(0, "label", [f"c{c}" for c in graph.y.tolist()])
    nodes.insert(0, "id", range(n))
    edges = pd.DataFrame({"source": graph.edges[0].numpy(), "target": graph.edges[1].numpy()})
    if parquet:
        nodes.to_parquet(folder / "nodes.parquet", index=False)
        edges.to_parquet(folder / "edges.parquet", index=False)
    else:
        nodes.to_csv(folder / "nodes.csv", index=False, float_format="%.5g")
        edges.to_csv(folder / "edges.csv", index=False)
    return folder

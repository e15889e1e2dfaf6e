"""A sampled subgraph as the model takes it: which structure (sparse adjacency or edge_index), which weights, which norm.

GCN and GCNII normalise messages by degrees: 1 / sqrt(deg_u deg_v). On a sampled subgraph a node keeps at most
`fanout` in-edges, and the outermost hop none, so computed there the degrees would shrink (a hub of degree
1,000 to 15, an outer node to its self-loop) and the same edge would weigh several times more in training than
in the full-graph evaluation. For these convolutions the subgraph's adjacency is therefore normalised here with
the whole graph's degrees and each sampled in-edge scaled by in-edges / sampled in-edges (so the sum over the
sample estimates the sum over all neighbours without bias, as in GraphSAGE's and FastGCN's estimators), and
the convolutions' own normalisation is off for that forward pass. With every neighbour sampled this is exactly
the full graph's computation at the seeds (tested).
"""
from __future__ import annotations

import contextlib
import inspect
from typing import Any, Iterator

import torch
from torch import Tensor, nn


def _convs(model: nn.Module) -> list[nn.Module]:
    from torch_geometric.nn import MessagePassing

    from resnet_any.domains.graph import unwrap

    return [m for m in unwrap(model).modules() if isinstance(m, MessagePassing)]


def takes_sparse(model: nn.Module) -> bool:
    """Whether the model is one of our graph ResNets, whose PyG convolutions all take a torch.sparse adjacency."""
    from resnet_any.domains.graph import GraphResNet, unwrap

    return isinstance(unwrap(model), GraphResNet)


def takes_weights(model: nn.Module) -> bool:
    """Whether every convolution of the model weighs edges (takes `edge_weight`, as GCN and GCNII do).

    In a sparse adjacency the values are used by every convolution, so the weights go in only where the same
    model on `edge_index` would use them too; GraphSAGE's, GIN's and GAT's see ones.
    """
    convs = _convs(model)
    return bool(convs) and all("edge_weight" in inspect.signature(m.forward).parameters for m in convs)


def degree_normalised(model: nn.Module) -> bool:
    """Whether every convolution normalises by degrees itself (GCN, GCNII with normalize on)."""
    convs = _convs(model)
    return bool(convs) and all(getattr(m, "normalize", False) is True and not getattr(m, "improved", False)
                               for m in convs)


def convolutions(model: nn.Module) -> int:
    """Message-passing layers in a model: the hops a node's prediction sees."""
    return max(1, len(_convs(model)))


def uncache(model: nn.Module) -> None:
    """Turn off convolutions' cached normalisation: with sampled subgraphs every step sees another graph."""
    for m in _convs(model):
        if getattr(m, "cached", False):
            m.cached = False
            m._cached_edge_index = m._cached_adj_t = None


def in_degrees(graph: Any) -> tuple[Tensor, Tensor]:
    """(in-edges per node, GCN's degree: the in-edges' weights plus the self-loop's 1) of the whole graph."""
    target, n = graph.edge_index[1].cpu(), int(graph.num_nodes)
    count = torch.bincount(target, minlength=n)
    w = getattr(graph, "edge_weight", None)
    weight = count.float() if w is None else torch.zeros(n).index_add_(0, target, w.cpu().float())
    return count, weight + 1.0


@contextlib.contextmanager
def subgraph_structure(model: nn.Module, graph: Any, sub: Any,
                       degrees: tuple[Tensor, Tensor]) -> Iterator[tuple[Tensor, dict[str, Tensor]]]:
    """(structure, keyword inputs) of a sampled subgraph as the model takes it, for one forward pass.

    Our graph ResNets get the sparse adjacency (see the module's note on GCN); a user's own model edge_index and,
    where its forward takes them, the sampled edges' weights.
    """
    from resnet_any.data.neighbors import adjacency
    from resnet_any.domains.graph import edge_inputs

    w = getattr(graph, "edge_weight", None)
    if not takes_sparse(model):
        extra = edge_inputs(model, graph)
        yield sub.edge_index, ({"edge_weight": w[sub.e_id]} if extra else {})
        return
    weights = w[sub.e_id].float() if w is not None and takes_weights(model) else None
    n = len(sub.n_id)
    if not degree_normalised(model):
        yield adjacency(sub.edge_index, n, weights), {}
        return
    count, deg = degrees[0][sub.n_id], degrees[1][sub.n_id]
    src, dst = sub.edge_index
    drawn = torch.bincount(dst, minlength=n).clamp(min=1)
    value = (torch.ones(len(src)) if weights is None else weights) * (count[dst] / drawn[dst])
    value = value * (deg[src] * deg[dst]).rsqrt()
    loops = torch.arange(n)
    structure = adjacency(torch.cat([sub.edge_index, torch.stack([loops, loops])], 1), n,
                          torch.cat([value, 1.0 / deg]))
    convs = _convs(model)
    try:
        for m in convs:
            m.normalize = False
        yield structure, {}
    finally:
        for m in convs:
            m.normalize = True


def sparse_is_exact(graph: Any) -> bool:
    """Whether the sparse adjacency gives the logits edge_index gives (prediction and explain use edge_index).

    Not with self-loops (GCN's normalisation adds a second one on a sparse adjacency, only the missing ones on
    edge_index) or repeated edges (the CSR merges them, which changes SAGE's mean and GAT's softmax): such a
    graph trains on edge_index, memory edges x width, as before the sparse path.
    """
    from torch_geometric.utils import contains_self_loops

    ei = graph.edge_index
    if ei.numel() == 0:
        return True
    if contains_self_loops(ei):
        return False
    key = ei[0].to(torch.int64) * int(graph.num_nodes) + ei[1]
    return int(torch.unique(key).numel()) == int(ei.shape[1])

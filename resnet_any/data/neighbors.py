"""Neighbourhoods of one large graph: its sparse adjacency, and seed nodes' sampled k-hop subgraphs.

PyG's convolutions take a `torch.sparse` CSR adjacency in place of `edge_index`: messages are then a
sparse-dense product (nodes x width), not an edges x width tensor per layer. `adjacency` builds it once.

`NeighborSampler` draws what PyG's `NeighborLoader` draws (GraphSAGE, Hamilton et al. 2017): from the seeds,
hop by hop, at most `fanouts[h]` in-neighbours of every node reached at hop h, without replacement (all of
them when the degree is at most the fan-out); nodes are numbered seeds first, then in the order they were
reached; edges run from the sampled neighbour to the node that drew it. NeighborLoader itself needs pyg-lib
or torch-sparse (compiled extensions with no wheel for every torch), so it is used when one is importable
and this plain-torch sampler otherwise: one vectorised pass per hop, no per-node Python.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor


def adjacency(edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None) -> Tensor:
    """The transposed adjacency PyG's convolutions take (row = target, column = source) as torch.sparse CSR.

    Its values are the edge weights, or ones: explicit ones keep repeated edges as repeated messages,
    as `edge_index` counts them (a CSR without values would merge them).
    """
    from torch_geometric.utils import to_torch_csr_tensor

    values = torch.ones(edge_index.size(1), device=edge_index.device) if edge_weight is None else edge_weight.float()
    with warnings.catch_warnings():
        # torch warns once per process that CSR is "beta" and that invariant checks are off: PyG builds
        # this tensor from a coalesced edge list, valid by construction
        warnings.filterwarnings("ignore", message="Sparse (CSR tensor support|invariant checks)")
        return to_torch_csr_tensor(edge_index.flip(0), values, size=(num_nodes, num_nodes))


def pyg_sampler_available() -> bool:
    """Whether PyG's own NeighborLoader can run here (it needs pyg-lib or torch-sparse)."""
    import torch_geometric.typing as pyg_typing

    return bool(pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE)


@dataclass(frozen=True)
class Subgraph:
    """One sample: `n_id` (global ids, seeds first), `edge_index` in local ids, `e_id` (the global edges)."""

    n_id: Tensor
    edge_index: Tensor
    e_id: Tensor
    num_seeds: int


class NeighborSampler:
    """Samples the k-hop in-neighbourhoods of seed nodes over a CSR of incoming edges (plain torch)."""

    def __init__(self, edge_index: Tensor, num_nodes: int) -> None:
        edge_index = edge_index.cpu()
        target = edge_index[1]
        # CSR by target: the in-neighbours of node v are source[perm[rowptr[v]:rowptr[v+1]]]
        self.perm = torch.argsort(target, stable=True)
        self.source = edge_index[0][self.perm]
        counts = torch.bincount(target, minlength=num_nodes)
        self.rowptr = torch.zeros(num_nodes + 1, dtype=torch.long)
        torch.cumsum(counts, 0, out=self.rowptr[1:])
        self.num_nodes = num_nodes
        # global id -> local id of the sample being drawn (-1: not reached); reset after each sample
        self._local = torch.full((num_nodes,), -1, dtype=torch.long)

    def sample(self, seeds: Tensor, fanouts: Sequence[int], generator: torch.Generator | None = None) -> Subgraph:
        """The sampled subgraph of `seeds` (distinct node ids), one fan-out per hop (-1: every neighbour)."""
        seeds = seeds.cpu().long()
        local = self._local
        local[seeds] = torch.arange(len(seeds))
        nodes, frontier = [seeds], seeds
        sources, targets, edges = [], [], []
        count = len(seeds)
        try:
            for k in fanouts:
                pos, owner = self._draw(frontier, k, generator)
                nbr = self.source[pos]
                # the neighbours not reached before, numbered in the order they first appear
                fresh = nbr[local[nbr] < 0]
                if len(fresh):
                    uniq, inverse = torch.unique(fresh, return_inverse=True)
                    first = torch.full((len(uniq),), len(fresh), dtype=torch.long)
                    first.scatter_reduce_(0, inverse, torch.arange(len(fresh)), reduce="amin")
                    new = uniq[torch.argsort(first)]
                    local[new] = torch.arange(count, count + len(new))
                    count += len(new)
                else:
                    new = fresh
                sources.append(local[nbr])
                targets.append(local[frontier][owner])
                edges.append(self.perm[pos])
                nodes.append(new)
                frontier = new
            n_id = torch.cat(nodes)
        finally:
            local[torch.cat(nodes)] = -1
        empty = torch.zeros(0, dtype=torch.long)
        edge_index = torch.stack([torch.cat(sources or [empty]), torch.cat(targets or [empty])])
        return Subgraph(n_id, edge_index, torch.cat(edges or [empty]), len(seeds))

    def _draw(self, nodes: Tensor, k: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """(CSR positions, index into `nodes` of the node that drew each) of up to k in-edges of every node."""
        start, deg = self.rowptr[nodes], self.rowptr[nodes + 1] - self.rowptr[nodes]
        owner = torch.repeat_interleave(torch.arange(len(nodes)), deg)
        offset = torch.arange(len(owner)) - torch.repeat_interleave(torch.cumsum(deg, 0) - deg, deg)
        pos = start[owner] + offset
        if k < 0:
            return pos, owner
        over = deg[owner] > k
        if not bool(over.any()):
            return pos, owner
        # without replacement: order each node's in-edges by a uniform random key and keep the first k
        # (every k-subset equally likely); nodes of degree <= k keep all of theirs
        keys = torch.rand(len(owner), generator=generator, dtype=torch.float64) + owner.double()
        order = torch.argsort(keys)
        rank = torch.empty_like(order)
        rank[order] = offset  # sorted by owner first, so the i-th of a node's keys gets rank i
        keep = ~over | (rank < k)
        return pos[keep], owner[keep]


def pyg_sample(data, seeds: Tensor, fanouts: Sequence[int]) -> Subgraph:
    """The same sample through PyG's NeighborLoader (needs pyg-lib or torch-sparse)."""
    from torch_geometric.loader import NeighborLoader

    loader = NeighborLoader(data, num_neighbors=list(fanouts), input_nodes=seeds, batch_size=len(seeds))
    batch = next(iter(loader))
    return Subgraph(batch.n_id, batch.edge_index, batch.e_id, int(batch.batch_size))

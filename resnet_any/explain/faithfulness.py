"""Deletion test: does removing what the attribution ranks highest hurt the prediction more than removing at random?

For each sample, the top k% of positions (pixels, time steps) or of the explained node's neighbourhood
(node features) are replaced by the dataset's mean, and the drop in the target class's probability is
compared with replacing a random k% (Samek et al. 2017's region perturbation, with a random control).
A faithful attribution drops the probability more than random deletion at every k.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

FRACTIONS = (0.1, 0.2, 0.5)


def _prob(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    with torch.no_grad():
        return torch.softmax(model(x).float(), 1).gather(1, target[:, None])[:, 0]


def grid_deletion(model: nn.Module, x: Tensor, attribution: Tensor, baseline: Tensor, target: Tensor,
                  fractions: Sequence[float] = FRACTIONS, repeats: int = 3,
                  generator: torch.Generator | None = None) -> dict[float, tuple[float, float]]:
    """{k: (mean drop deleting the top-k attributed positions, mean drop deleting k at random)} over the batch.

    x: prepared inputs (N, C, *spatial); attribution: (N, *spatial); baseline: what a deleted position
    becomes, (C, *spatial) or broadcastable (the dataset's mean input); target: (N,) classes.
    """
    model.eval()
    n = x.shape[0]
    positions = attribution[0].numel()
    p0 = _prob(model, x, target)
    order = attribution.reshape(n, -1).argsort(1, descending=True)
    base = baseline.expand_as(x[0]).reshape(x.shape[1], -1)
    out = {}
    for frac in fractions:
        k = max(1, math.ceil(frac * positions))

        def drop(chosen: Tensor) -> Tensor:
            mask = torch.zeros(n, positions, dtype=torch.bool, device=x.device)
            mask.scatter_(1, chosen, True)
            flat = torch.where(mask[:, None, :], base[None], x.reshape(n, x.shape[1], -1))
            return p0 - _prob(model, flat.reshape(x.shape), target)

        ranked = drop(order[:, :k]).mean().item()
        random = sum(drop(torch.stack([torch.randperm(positions, generator=generator)[:k] for _ in range(n)])
                          .to(x.device)).mean().item() for _ in range(repeats)) / repeats
        out[frac] = (ranked, random)
    return out


def graph_deletion(prob: Callable[[Tensor], float], x: Tensor, nodes: Tensor, node_mask: Tensor, baseline: Tensor,
                   fractions: Sequence[float] = FRACTIONS, repeats: int = 3,
                   generator: torch.Generator | None = None) -> dict[float, tuple[float, float]]:
    """The deletion test for one explained prediction: {k: (drop deleting top-k nodes' features, random k)}.

    prob(x) is the target class's probability for node features `x`; `nodes` the neighbourhood the
    explanation ranks (by `node_mask`); a deleted node's features become `baseline` (the mean node).
    """
    p0 = prob(x)
    order = nodes[node_mask[nodes].argsort(descending=True)]
    out = {}
    for frac in fractions:
        k = max(1, math.ceil(frac * nodes.numel()))

        def drop(chosen: Tensor) -> float:
            xd = x.clone()
            xd[chosen] = baseline
            return p0 - prob(xd)

        ranked = drop(order[:k])
        random = sum(drop(nodes[torch.randperm(nodes.numel(), generator=generator)[:k]])
                     for _ in range(repeats)) / repeats
        out[frac] = (ranked, random)
    return out

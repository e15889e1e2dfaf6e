"""Full batch or sampled neighbourhoods: a node task's training memory, estimated, against a budget read from the machine.

Full batch holds every node's activations of every layer for the backward pass: nodes x width x layers.
Above the budget, training runs on sampled neighbourhoods of `batch_size` seed nodes (data/neighbors.py),
whose activations do not grow with the graph; evaluation still runs the whole graph with no gradient
(nodes x width, one layer's worth at a time), so test accuracy is full-batch's. A graph whose evaluation
alone would not fit is refused before training.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from resnet_any.data.base import DataSplits
from resnet_any.errors import UserError
from resnet_any.train.options import RunConfig

# the budget: this share of what the machine can give the run now (MemAvailable, or the GPU's free memory)
BUDGET_SHARE = 0.5
# seed nodes a step (PyG's ogbn-products GraphSAGE example's 1,024), and in-neighbours drawn per hop (hop 1 =
# the seeds' own neighbours), then 5 a hop beyond the second (not measured). 25 at both hops: on 10k-node SBMs of
# mean degree 20 (bench graphs' generator, graphs 0 and 1, node default, 300 epochs) sampled training scored
# 0.616/0.639 with PyG's example's (15, 10), 0.631/0.628 with GraphSAGE's (25, 10) (Hamilton et al. 2017), and
# 0.663/0.663 with (25, 25) against full batch's 0.664/0.668; every neighbour: 0.659 (graph 0)
SAMPLED_BATCH = 1024
FANOUTS = (25, 25)
LATER_FANOUT = 5
# float32 tensors of nodes x width per layer a full-batch step holds at its peak (what the backward pass keeps,
# the gradients, Adam's state is per parameter and small). Measured (issue 26's scale study, peak RSS over the
# loaded graph, width 64, 2 GCN layers): 3.4 GB on a 1 M-node, 10 M-edge, 128-feature graph, i.e. about 4 such
# tensors a layer besides the adjacency and the features' dropout; 6 leaves a margin for other convolutions
ACTIVATIONS_PER_LAYER = 6
# without a sparse adjacency each layer also holds messages of edges x width (gathered inputs, their gradient)
MESSAGES_PER_LAYER = 3
# evaluation with no gradient: a layer's input, output and the residual sum at once
EVAL_ACTIVATIONS = 4
FLOAT = 4


def fanouts(hops: int) -> tuple[int, ...]:
    """In-neighbours sampled at each hop from the seeds, one hop per graph convolution."""
    return (FANOUTS + (LATER_FANOUT,) * hops)[:hops]


@dataclass(frozen=True)
class Shape:
    """What the estimate reads: the graph's and the model's sizes."""

    nodes: int
    edges: int
    features: int
    width: int
    layers: int
    sparse: bool    # whether the model takes the sparse adjacency (else edge_index, edges x width messages)

    def full_batch(self) -> int:
        """Bytes a full-batch training step adds to the loaded graph."""
        adjacency = 3 * self.edges * (8 + FLOAT)  # the CSR and its normalised copies (gcn_norm adds self-loops)
        features = 2 * self.nodes * self.features * FLOAT  # input dropout's copy and its mask
        acts = self.nodes * self.width * self.layers * ACTIVATIONS_PER_LAYER * FLOAT
        messages = 0 if self.sparse else self.edges * self.width * self.layers * MESSAGES_PER_LAYER * FLOAT
        return adjacency + features + acts + messages

    def sampled(self, batch: int) -> int:
        """Bytes of sampled training (one subgraph's full-batch cost) plus a whole-graph evaluation."""
        reach, nodes = batch, batch
        for k in fanouts(self.layers):
            reach *= k
            nodes += reach
        nodes = min(nodes, self.nodes)
        sub = Shape(nodes, min(self.edges, nodes * max(FANOUTS)), self.features, self.width, self.layers, self.sparse)
        evaluation = self.nodes * self.width * EVAL_ACTIVATIONS * FLOAT + 3 * self.edges * (8 + FLOAT)
        # the subgraph's adjacency is freed before evaluation builds the whole one: count the larger
        return sub.full_batch() - 3 * sub.edges * (8 + FLOAT) + evaluation


def budget(device: torch.device) -> tuple[int, str]:
    """(bytes, in words) the run may use: BUDGET_SHARE of the GPU's free memory or of the machine's MemAvailable."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * BUDGET_SHARE), f"{BUDGET_SHARE:.0%} of the GPU's {gb(free)} free"
    avail = available_memory()
    return int(avail * BUDGET_SHARE), f"{BUDGET_SHARE:.0%} of the {gb(avail)} available memory"


def available_memory() -> int:
    """Bytes the machine can give a new allocation without swapping: Linux's MemAvailable (psutil's elsewhere)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil  # not a dependency: macOS and Windows users mostly have it
    except ImportError:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")  # free pages: a lower bound
    return int(psutil.virtual_memory().available)


def gb(n: float) -> str:
    """Bytes in GB, in words."""
    return f"{n / 1e9:.2g} GB" if n < 1e10 else f"{n / 1e9:.0f} GB"


def shape(config: RunConfig, splits: DataSplits, model: nn.Module | None) -> Shape:
    """The graph's size and the width and number of convolutions of the model the run will build (or was given)."""
    from torch_geometric.nn import MessagePassing

    g = splits.graph
    if model is not None:
        convs = [m for m in model.modules() if isinstance(m, MessagePassing)]
        width = max((int(getattr(m, "out_channels", 0) or 0) for m in convs), default=0) or int(g.num_features)
        sparse = False  # a user's own forward is given edge_index (it may index it)
        layers = max(len(convs), 1)
    else:
        from resnet_any.domains.graph import MODELS, graph_resnet

        defaults = {k: p.default for k, p in inspect.signature(graph_resnet).parameters.items()}
        kwargs = {**defaults, **MODELS[config.model], **(config.model_kwargs or {})} if config.model in MODELS else {}
        width = int(kwargs.get("width") or kwargs.get("hidden_channels") or 64)
        layers, sparse = int(kwargs.get("depth") or 2), True
    return Shape(int(g.num_nodes), int(g.num_edges), int(g.num_features), width, layers, sparse)


def choose(config: RunConfig, splits: DataSplits, device: torch.device, model: nn.Module | None,
           explicit: dict[str, Any]) -> tuple[RunConfig, str | None]:
    """The config with `sampling` resolved (and the sampled batch where the user set none), and the note saying why."""
    if splits.layout != "node":
        return config.replace(sampling="full"), None
    s = shape(config, splits, model)
    limit, words = budget(device)
    need, sampled = s.full_batch(), s.sampled(explicit.get("batch_size") or SAMPLED_BATCH)
    mode = config.sampling
    if mode == "auto":
        mode = "full" if need <= limit else "neighbor"
    if mode == "neighbor" and sampled > limit:
        raise UserError(f"graph {splits.name!r} ({s.nodes:,} nodes, {s.edges:,} edges, {s.features} features) needs "
                        f"about {gb(sampled)} even with sampled neighbourhoods (evaluation holds every node's width "
                        f"{s.width} activations), over the budget of {gb(limit)} ({words}): use a smaller --width, "
                        "a machine with more memory, or fewer nodes")
    why = (f"full-batch training needs about {gb(need)} (nodes {s.nodes:,} x width {s.width} x {s.layers} layers, "
           f"features and {'sparse adjacency' if s.sparse else 'edges x width messages'}); budget {gb(limit)} ({words})")
    if mode == "full":
        source = "--sampling full" if config.sampling == "full" else "auto"
        return config.replace(sampling="full"), f"sampling: full batch ({source}); {why}"
    changes: dict[str, Any] = {"sampling": "neighbor"}
    if "batch_size" not in explicit:
        changes["batch_size"] = SAMPLED_BATCH
    batch = changes.get("batch_size", config.batch_size)
    source = "--sampling neighbor" if config.sampling == "neighbor" else "auto"
    return config.replace(**changes), (
        f"sampling: neighbour-sampled training ({source}): {batch} seed nodes a step, fan-outs {fanouts(s.layers)} "
        f"(in-neighbours per hop), about {gb(sampled)} with evaluation on the whole graph with every neighbour (no "
        f"gradient, one layer after another over all nodes); {why}")


"""Graph ResNets: the same residual block over message-passing convolutions, one model name per operator.

| name | convolution | defaults beside it |
| --- | --- | --- |
| gcn_resnet | GCNConv (Kipf & Welling 2017), edge weights used | mean readout |
| sage_resnet | SAGEConv (Hamilton et al. 2017), mean aggregation | mean readout |
| gin_resnet | GINConv (Xu et al. 2019): sum aggregation, 2-layer MLP, learned eps | sum readout, jk |
| gat_resnet | GATConv (Velickovic et al. 2018), one head | mean readout |

`depth` counts graph convolutions (message-passing steps), as in the DeepGCN, DropEdge and
GCNII papers. Styles: "res" (post-activation), "res+" (pre-activation, as PyG's DeepGCNLayer),
"plain" (no skip, for comparison) and "gcnii" (Chen et al. 2020: initial residual and identity
mapping inside each convolution, which keeps 64-layer networks from over-smoothing).
"""
from __future__ import annotations

import weakref

import torch
from functools import partial
from typing import Any

from torch import Tensor, nn

from resnet_any.core import BlockSpec, GraphOps, ResNet, StemSpec, register_model
from resnet_any.errors import UserError

# one convolution per residual branch: a DeepGCN layer
GRAPH_BLOCK = BlockSpec(kernels=(1,), expansion=1, stride_at=0)

# style -> (pre-activation, skip connection, convolution override, norm override)
STYLES = {
    "res": (False, True, None, None),
    "res+": (True, True, None, None),
    "plain": (False, False, None, None),
    "gcnii": (False, False, "gcn2", "none"),
}


class SparseDropout(nn.Module):
    """Dropout that draws random numbers only for nonzero inputs (bag-of-words features are ~99% zeros).

    With `sparse_out` (the model's next layer is a Linear, which takes a CSR matrix) an input sparser than
    SPARSE_BELOW leaves as a CSR matrix of the same values, in training and in evaluation: Cora's stem
    (1,433 words, 1.3% nonzero) then multiplies 11x faster forward and ~3x with its backward (2 shared cores).
    The values and the dropout's draws are the nn.Dropout-like ones either way; the matrix product sums the
    same products in another order (float32 rounding, ~2e-7).
    """

    SPARSE_BELOW = 0.1

    def __init__(self, p: float, sparse_out: bool = False) -> None:
        super().__init__()
        self.p = p
        self.sparse_out = sparse_out
        # the nonzeros' positions (and CSR row pointers) of the last input while that very tensor lives unchanged
        # (a weak reference and its version counter): a full-batch node task feeds the same features every
        # epoch, and finding them (nonzero over N x F) cost more than the dropout itself (14 of 25 ms on Cora)
        self._where: tuple[weakref.ref, int, tuple[tuple[Tensor, ...], Tensor] | None] | None = None

    def _nonzeros(self, x: Tensor) -> tuple[tuple[Tensor, ...], Tensor] | None:
        """The nonzeros' positions and CSR row pointers, or None for dense features (more than a quarter nonzero):
        their indices (two int64 each) would take 4x the input, 2 GB on a 1 M x 128 graph, and plain dropout draws
        no more numbers."""
        if self._where is None or self._where[0]() is not x or self._where[1] != x._version:
            if x.numel() and x.count_nonzero() * 4 > x.numel():
                self._where = (weakref.ref(x), x._version, None)
            else:
                index = x.nonzero(as_tuple=True)
                crow = torch.zeros(x.shape[0] + 1, dtype=torch.long, device=x.device)
                if x.dim() == 2:
                    crow[1:] = torch.cumsum(torch.bincount(index[0], minlength=x.shape[0]), 0)
                self._where = (weakref.ref(x), x._version, (index, crow))
        return self._where[2]

    def __getstate__(self) -> dict:
        """A pickled or deep-copied module leaves the cache behind (a weak reference does not pickle)."""
        return {**self.__dict__, "_where": None}

    def _as_csr(self, x: Tensor) -> bool:
        return (self.sparse_out and x.dim() == 2 and x.layout == torch.strided and x.device.type == "cpu"
                and not torch.is_autocast_enabled("cpu"))

    def forward(self, x: Tensor) -> Tensor:
        """Same distribution as nn.Dropout (zeros stay zero), at the cost of the nonzeros only."""
        csr = self._as_csr(x)
        if not self.training or self.p == 0.0:
            where = self._nonzeros(x) if csr else None
            if where is None or len(where[0][0]) >= self.SPARSE_BELOW * x.numel():
                return x
            index, crow = where
            return torch.sparse_csr_tensor(crow, index[1], x[index], x.shape)
        where = self._nonzeros(x)
        if where is None:
            return nn.functional.dropout(x, self.p, True)
        index, crow = where
        values = x[index]
        keep = torch.rand_like(values) >= self.p
        dropped = values * keep / (1.0 - self.p)
        if csr and len(values) < self.SPARSE_BELOW * x.numel():
            return torch.sparse_csr_tensor(crow, index[1], dropped, x.shape)
        out = torch.zeros_like(x)
        out[index] = dropped
        return out


class GraphResNet(ResNet):
    """A ResNet over graphs: `model(x, edge_index)` per node, `model(x, edge_index, batch)` per graph.

    `edge_weight` (one value per edge) reaches the convolutions that take one (`ops.takes_edge_weight`);
    the positional two-argument call stays what explain and ONNX export make.

    With `jk` (jumping knowledge, as GIN's graph classifier, Xu et al. 2019) the input, the stem and
    every block but the last also get their own linear classifier on their readout, and all logits
    are added: shallow structure (and, with a sum readout, node counts) reaches the prediction directly.
    """

    def __init__(self, *args, input_dropout: float = 0.0, jk: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # a Linear stem (GCNII's) takes the sparse input as a CSR matrix; convolutions get it dense
        linear_stem = isinstance(getattr(self.conv1, "layer", None), nn.Linear)
        self.input_drop = SparseDropout(input_dropout, sparse_out=linear_stem) if input_dropout > 0 else nn.Identity()
        self.jk: nn.ModuleList | None = None
        if jk:
            blocks = [b for name in self.stage_names for b in getattr(self, name)]
            # what enters the stem and each block; the last block's output is the head's own
            widths = ([kwargs["in_channels"], kwargs["stem"].width] + [b.out_channels for b in blocks])[:-1]
            self.jk = nn.ModuleList(nn.Linear(c, self.fc.out_features) for c in widths)

    def forward_features(self, x: Tensor, edge_index: Tensor, batch: Tensor | None = None,
                         edge_weight: Tensor | None = None) -> Tensor:
        """Node embeddings after the last block."""
        return super().forward_features(self.input_drop(x), edge_index, batch, edge_weight)

    def forward_stages(self, x: Tensor, edge_index: Tensor, batch: Tensor | None = None,
                       edge_weight: Tensor | None = None) -> list[Tensor]:
        """Node embeddings after the stem and after the blocks."""
        return super().forward_stages(self.input_drop(x), edge_index, batch, edge_weight)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor | None = None,
                edge_weight: Tensor | None = None) -> Tensor:
        """Logits per node (no `batch`) or per graph (with the PyG batch vector)."""
        if self.jk is None:
            return self.forward_head(self.forward_features(x, edge_index, batch, edge_weight), edge_index, batch)
        x = self.input_drop(x)
        layers = [x]
        h, ctx = self._stem(x, (edge_index, batch, edge_weight))
        for block in (b for name in self.stage_names for b in getattr(self, name)):
            layers.append(h)
            h = block(h, *ctx)
        logits = self.forward_head(self.norm(h), *ctx)
        for head, z in zip(self.jk, layers):
            logits = logits + head(self.head_drop(self.ops.readout(z, *ctx)))
        return logits


def graph_resnet(in_channels: int, num_classes: int, *, hidden_channels: int = 64, width: int | None = None,
                 depth: int = 2, dropout: float = 0.5, input_dropout: float = 0.0, style: str = "res+",
                 conv: str = "gcn", norm: str = "batch", act: str = "relu", attn: str | None = None,
                 drop_path_rate: float = 0.0, zero_init_residual: bool = False, alpha: float = 0.1,
                 theta: float = 0.5, cached: bool = False, pool: str = "mean", jk: bool = False,
                 head_dropout: float | None = None) -> GraphResNet:
    """A residual graph network with `depth` graph convolutions `conv` of `hidden_channels` (alias `width`).

    `pool` is the graph-level readout (mean, sum or max over each graph's nodes); `jk` adds a
    classifier on every earlier layer's readout (see GraphResNet). `dropout` acts before every
    convolution and, unless `head_dropout` is given, before the classifier too.
    """
    if style not in STYLES:
        raise UserError(f"unknown graph residual style {style!r}; valid: {', '.join(STYLES)}")
    if not isinstance(depth, int) or depth < 1:
        raise UserError(f"depth must be a positive integer, got {depth!r}")
    preact, skip, conv_override, norm_override = STYLES[style]
    # cached: normalise the adjacency once; right only when every call sees the same graph (node tasks)
    ops = GraphOps(conv_override or conv, norm_override or norm, act, alpha=alpha, theta=theta, cached=cached,
                   pool=pool)
    hidden = width or hidden_channels
    # GCNII's stem is a linear map, so all `depth` convolutions sit in blocks; otherwise the
    # stem is the first convolution
    blocks = depth if ops.needs_x0 else depth - 1
    return GraphResNet(ops, GRAPH_BLOCK, (blocks,), (hidden,), in_channels=in_channels,
                       num_classes=num_classes, stem=StemSpec(kernel=1, stride=1, pool=False, width=hidden),
                       strides=(1,), preact=preact, skip=skip, attn=attn, dropout=dropout,
                       head_dropout=dropout if head_dropout is None else head_dropout,
                       input_dropout=input_dropout, drop_path_rate=drop_path_rate,
                       zero_init_residual=zero_init_residual, jk=jk)


# name -> the defaults that make the operator's model (the table in the module docstring); any stays overridable
MODELS: dict[str, dict[str, Any]] = {
    "gcn_resnet": dict(conv="gcn"),
    "sage_resnet": dict(conv="sage"),
    # a GIN is a graph classifier: a sum readout keeps the node counts a mean loses, and GIN reads out every
    # layer (Xu et al. 2019, eq. 4.2); on node tasks (no batch) neither applies beyond the jk heads
    "gin_resnet": dict(conv="gin", pool="sum", jk=True),
    "gat_resnet": dict(conv="gat"),
}
for _name, _defaults in MODELS.items():
    register_model(_name, "graph", partial(graph_resnet, **_defaults))
gcn_resnet = partial(graph_resnet, **MODELS["gcn_resnet"])


def unwrap(model: nn.Module) -> nn.Module:
    """The user's module inside torch.compile's and DDP's wrappers, in either order."""
    from torch.nn.parallel import DistributedDataParallel

    while True:
        if isinstance(model, DistributedDataParallel):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def _forward_takes_weight(model: nn.Module) -> bool:
    """Whether a model's forward accepts `edge_weight` (by name or **kwargs)."""
    import inspect

    inner = unwrap(model)
    if isinstance(inner, GraphResNet):
        return True
    params = inspect.signature(inner.forward).parameters
    return "edge_weight" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def edge_inputs(model: nn.Module, data: Any) -> dict[str, Tensor]:
    """The keyword inputs a model gets from a graph besides x and edge_index: `edge_weight` where both have it."""
    weight = getattr(data, "edge_weight", None)
    if weight is None or not _forward_takes_weight(model):
        return {}
    return {"edge_weight": weight}


def _weighted(splits: Any) -> bool:
    """Whether a graph DataSplits' graph (node tasks) or training graphs carry edge_weight."""
    if getattr(splits, "graph", None) is not None:
        return getattr(splits.graph, "edge_weight", None) is not None
    return any(getattr(g, "edge_weight", None) is not None for g in (splits.train or ()))


def edge_weight_note(model: nn.Module, name: str | None, splits: Any) -> str | None:
    """One line saying whether the run's model (registry `name`, None for the user's own) uses the data's edge
    weights; None when the data has none."""
    if splits.domain != "graph" or not _weighted(splits):
        return None
    inner = unwrap(model)
    if name is not None and isinstance(inner, GraphResNet) and isinstance(inner.ops, GraphOps):
        ops = inner.ops
        conv = ops.conv_classes[ops.conv_name]
        if MODELS.get(name, {}).get("conv") not in (ops.conv_name, "gcn" if ops.conv_name == "gcn2" else None):
            name = f"{name} with conv {ops.conv_name}"  # a registry name whose convolution was overridden
        if ops.takes_edge_weight:
            return f"{name} uses the edge weights: every {conv} scales its messages by edge_weight"
        users = [n for n, d in MODELS.items() if d["conv"] in GraphOps.weighted_convs]
        return (f"{name} ignores edge weights: {conv} takes none; {', '.join(users)} "
                f"{'uses' if len(users) == 1 else 'use'} them")
    if _forward_takes_weight(model):
        return "the edge weights reach your model as forward(..., edge_weight=...)"
    return "your model's forward takes no edge_weight argument: the graph's edge weights are not used"

"""Operator families: what changes between spaces (grids of any dimension, graphs).

Blocks and networks are written once against `Ops`. A layer built by `conv` is called as
`layer(x, *ctx)`; every other layer as `layer(x)`. On grids `ctx` is empty, so grid layers
are plain torch modules (which keeps torchvision's parameter names); on graphs `ctx` is
`(edge_index, batch, edge_weight)` plus, for initial-residual convolutions, the stem output `x0`.
"""
from __future__ import annotations

from typing import Callable, Sequence

from einops import reduce
from torch import Tensor, nn

from resnet_any.errors import UserError


_ACTS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "gelu": nn.GELU,
    "silu": lambda: nn.SiLU(inplace=True),
    "elu": lambda: nn.ELU(inplace=True),
}


def _check_choice(kind: str, value: str, valid: Sequence[str]) -> str:
    """Return `value` if valid, else raise one clear UserError."""
    if value not in valid:
        raise UserError(f"unknown {kind} {value!r}; valid: {', '.join(valid)}")
    return value


class Ops:
    """The operator family of one space: convolutions, norms, pooling and readout."""

    name = "ops"
    #: graph convolutions that mix in the stem output need it appended to `ctx`
    needs_x0 = False

    def __init__(self, act: str = "relu") -> None:
        self.act_name = _check_choice("activation", act, list(_ACTS))

    def act(self) -> nn.Module:
        """The non-linearity."""
        return _ACTS[self.act_name]()

    def conv(self, cin: int, cout: int, kernel_size: int | tuple = 3, stride: int | tuple = 1,
             groups: int = 1, layer: int = 0) -> nn.Module:
        """A spatial operator (called with ctx)."""
        raise NotImplementedError

    def stem_conv(self, cin: int, cout: int, kernel_size: int | tuple, stride: int | tuple) -> nn.Module:
        """The first operator, which also changes the width."""
        return self.conv(cin, cout, kernel_size, stride)

    def norm(self, channels: int) -> nn.Module:
        """A normalisation over channels."""
        raise NotImplementedError

    def project(self, cin: int, cout: int, stride: int = 1) -> nn.Module:
        """A pointwise projection for shortcuts (called without ctx)."""
        raise NotImplementedError

    def max_pool(self) -> nn.Module:
        """The stem's 3/2 max-pool (identity where a space has no resolution)."""
        return nn.Identity()

    def avg_pool(self, stride: int) -> nn.Module:
        """The ResNet-D shortcut's average pool."""
        return nn.Identity()

    def squeeze(self, x: Tensor, *ctx) -> Tensor:
        """Mean over each sample's positions: (samples, channels)."""
        raise NotImplementedError

    def expand(self, s: Tensor, x: Tensor, *ctx) -> Tensor:
        """Broadcast per-sample channel weights `s` back to the positions of `x`."""
        raise NotImplementedError

    def readout(self, x: Tensor, *ctx) -> Tensor:
        """The head's pooling: one row per prediction."""
        return self.squeeze(x, *ctx)


class SamePadConv1d(nn.Conv1d):
    """A stride-1 Conv1d padded to keep the length for an even kernel (Wang et al.'s 8): left (k-1)//2, right k//2.

    What torch's padding='same' computes, padded here explicitly: torch warns on every call that it pads a
    copy of the input, and silencing that would take a process-wide warning filter set on import.
    Parameters and their names are Conv1d's, so checkpoints are unchanged.
    """

    def forward(self, x: Tensor) -> Tensor:
        """Pad asymmetrically, then convolve unpadded."""
        k = self.kernel_size[0]
        return self._conv_forward(nn.functional.pad(x, ((k - 1) // 2, k // 2)), self.weight, self.bias)


class GridOps(Ops):
    """Convolutions on a regular grid of dimension 1 (series), 2 (images) or 3 (volumes)."""

    def __init__(self, dim: int = 2, act: str = "relu") -> None:
        super().__init__(act)
        if dim not in (1, 2, 3):
            raise UserError(f"grid dimension must be 1, 2 or 3, got {dim!r}")
        self.dim = dim
        self.name = f"grid{dim}d"
        self._conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dim - 1]
        self._bn = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dim - 1]
        self._max = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)[dim - 1]
        self._avg = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)[dim - 1]

    def conv(self, cin: int, cout: int, kernel_size: int | tuple = 3, stride: int | tuple = 1,
             groups: int = 1, layer: int = 0) -> nn.Module:
        """ConvNd without bias (a norm follows), padded to keep size at stride 1."""
        if isinstance(kernel_size, int) and kernel_size % 2 == 0:
            # even kernels (Wang et al.'s 8) cannot pad symmetrically
            if stride != 1:
                raise UserError(f"even kernel size {kernel_size} needs stride 1, got {stride}")
            if self.dim != 1:
                raise UserError(f"even kernel size {kernel_size} is supported on 1D grids only")
            return SamePadConv1d(cin, cout, kernel_size, groups=groups, bias=False)
        if isinstance(kernel_size, int):
            padding: int | tuple = kernel_size // 2
        else:
            padding = tuple(k // 2 for k in kernel_size)
        return self._conv(cin, cout, kernel_size, stride=stride, padding=padding, groups=groups, bias=False)

    def norm(self, channels: int) -> nn.Module:
        """BatchNormNd."""
        return self._bn(channels)

    def project(self, cin: int, cout: int, stride: int = 1) -> nn.Module:
        """A 1x1 convolution, strided like the branch it shortcuts."""
        return self._conv(cin, cout, 1, stride=stride, bias=False)

    def max_pool(self) -> nn.Module:
        """3/2 max-pool with padding 1, as torchvision's stem."""
        return self._max(kernel_size=3, stride=2, padding=1)

    def avg_pool(self, stride: int) -> nn.Module:
        """Average pool for the ResNet-D shortcut (identity at stride 1)."""
        if stride == 1:
            return nn.Identity()
        return self._avg(stride, stride, ceil_mode=True, count_include_pad=False)

    def squeeze(self, x: Tensor, *ctx) -> Tensor:
        """Global average over every spatial axis."""
        return reduce(x, "b c ... -> b c", "mean")

    def expand(self, s: Tensor, x: Tensor, *ctx) -> Tensor:
        """(b, c) -> (b, c, 1, ...) to broadcast over the grid."""
        return s.reshape(s.shape + (1,) * (x.dim() - 2))


class _GraphConv(nn.Module):
    """Adapts a PyG convolution to the block calling convention `(x, edge_index, batch, edge_weight, x0)`.

    `takes_weight`: the convolution scales messages by `edge_weight` (GCNConv, GCN2Conv); the others get none.
    """

    def __init__(self, conv: nn.Module, uses_x0: bool = False, takes_weight: bool = False) -> None:
        super().__init__()
        self.conv = conv
        self.uses_x0 = uses_x0
        self.takes_weight = takes_weight

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor | None = None,
                edge_weight: Tensor | None = None, x0: Tensor | None = None) -> Tensor:
        """Apply the wrapped convolution."""
        weight = (edge_weight,) if self.takes_weight else ()
        if self.uses_x0:
            return self.conv(x, x0, edge_index, *weight)
        return self.conv(x, edge_index, *weight)


class GraphOps(Ops):
    """Message passing on graphs: the convolution is chosen by name."""

    convs = ("gcn", "sage", "gin", "gat", "gcn2")
    #: the PyG class of each convolution, for notes
    conv_classes = {"gcn": "GCNConv", "sage": "SAGEConv", "gin": "GINConv", "gat": "GATConv", "gcn2": "GCN2Conv"}
    #: those that scale each message by an edge weight (PyG's `edge_weight` argument); SAGE, GIN and GAT take none
    weighted_convs = ("gcn", "gcn2")
    norms = ("batch", "layer", "none")
    #: graph-level readouts; a sum keeps node counts, which a mean loses (Xu et al. 2019, GIN)
    pools = ("mean", "sum", "max")

    def __init__(self, conv: str = "gcn", norm: str = "batch", act: str = "relu",
                 alpha: float = 0.1, theta: float = 0.5, cached: bool = False, pool: str = "mean") -> None:
        super().__init__(act)
        self.conv_name = _check_choice("graph convolution", conv, self.convs)
        self.norm_name = _check_choice("graph norm", norm, self.norms)
        self.pool_name = _check_choice("graph pool", pool, self.pools)
        self.name = f"graph-{conv}"
        self.needs_x0 = conv == "gcn2"
        self.alpha, self.theta = alpha, theta
        # GCN/GCNII renormalise the adjacency on every call: a 64-layer net does it 64 times per
        # forward. On one fixed graph (transductive node tasks) computing it once is ~30% faster;
        # with changing graphs (graph batches) it would be wrong, hence off by default
        self.cached = bool(cached)
        self.takes_edge_weight = conv in self.weighted_convs

    def conv(self, cin: int, cout: int, kernel_size: int | tuple = 3, stride: int | tuple = 1,
             groups: int = 1, layer: int = 0) -> nn.Module:
        """A graph convolution; kernel size has no meaning on graphs and is ignored."""
        import torch_geometric.nn as gnn  # deferred: importing PyG costs seconds

        if stride != 1:
            raise UserError(f"graphs have no resolution to stride; got stride {stride}")
        name = self.conv_name
        if name == "gcn":
            return _GraphConv(gnn.GCNConv(cin, cout, cached=self.cached), takes_weight=True)
        if name == "sage":
            return _GraphConv(gnn.SAGEConv(cin, cout))
        if name == "gat":
            return _GraphConv(gnn.GATConv(cin, cout, heads=1))
        if name == "gin":
            # Xu et al. 2019: h' = MLP((1 + eps) h + sum of neighbours), a 2-layer MLP and a learned eps
            mlp = nn.Sequential(nn.Linear(cin, cout), nn.ReLU(), nn.Linear(cout, cout))
            return _GraphConv(gnn.GINConv(mlp, train_eps=True))
        if cin != cout:
            raise UserError(f"gcn2 keeps the width; got {cin} -> {cout} channels")
        # GCNII (Chen et al. 2020): initial residual alpha, identity mapping beta_l = log(theta/l + 1)
        return _GraphConv(gnn.GCN2Conv(cin, self.alpha, self.theta, max(layer, 1), shared_weights=True,
                                       cached=self.cached), uses_x0=True, takes_weight=True)

    def stem_conv(self, cin: int, cout: int, kernel_size: int | tuple, stride: int | tuple) -> nn.Module:
        """GCNII widens with a linear map; the others with their own convolution."""
        if self.needs_x0:
            return _Pointwise(nn.Linear(cin, cout))
        return self.conv(cin, cout)

    def norm(self, channels: int) -> nn.Module:
        """Batch norm over nodes, layer norm per node, or none."""
        if self.norm_name == "batch":
            return nn.BatchNorm1d(channels)
        if self.norm_name == "layer":
            return nn.LayerNorm(channels)
        return nn.Identity()

    def project(self, cin: int, cout: int, stride: int = 1) -> nn.Module:
        """A linear map per node."""
        return nn.Linear(cin, cout, bias=False)

    def squeeze(self, x: Tensor, edge_index: Tensor | None = None, batch: Tensor | None = None, *rest) -> Tensor:
        """Mean over each graph's nodes (one graph when `batch` is None)."""
        if batch is None:
            return x.mean(dim=0, keepdim=True)
        from torch_geometric.nn import global_mean_pool

        return global_mean_pool(x, batch)

    def expand(self, s: Tensor, x: Tensor, edge_index: Tensor | None = None,
               batch: Tensor | None = None, *rest) -> Tensor:
        """Give each node its graph's row."""
        return s if batch is None else s[batch]

    def readout(self, x: Tensor, edge_index: Tensor | None = None, batch: Tensor | None = None, *rest) -> Tensor:
        """Node rows for node tasks (no batch); per graph, the mean, sum or max of its nodes (`pool`).

        Attention's `squeeze` stays a mean whatever the readout: its gates should not scale with graph size.
        """
        if batch is None:
            return x
        import torch_geometric.nn as gnn

        pool = {"mean": gnn.global_mean_pool, "sum": gnn.global_add_pool, "max": gnn.global_max_pool}
        return pool[self.pool_name](x, batch)


class _Pointwise(nn.Module):
    """A position-wise layer called with (and ignoring) ctx."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor, *ctx) -> Tensor:
        """Apply the layer to every position."""
        return self.layer(x)


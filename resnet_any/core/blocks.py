"""The residual block, written once: `out = x' + F(x)` for every space and block shape.

A `BlockSpec` says how many operator units the residual branch has and their kernel sizes;
`BASIC` and `BOTTLENECK` are torchvision's two, `(8, 5, 3)` is Wang et al.'s series block and
a single unit is a DeepGCN layer. `ResidualBlock` adds the order (post-activation as He et al.
2015, pre-activation as He et al. 2016 and PyG's 'res+'), attention, stochastic depth, dropout
and the projection shortcut, and keeps torchvision's parameter names (conv1, bn1, ..., downsample).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from resnet_any.core.attention import create_attn
from resnet_any.core.ops import Ops


@dataclass(frozen=True)
class BlockSpec:
    """The shape of a residual branch: kernel per unit, width expansion, which unit strides."""

    kernels: tuple = (3, 3)
    expansion: int = 1
    stride_at: int = 0


BASIC = BlockSpec(kernels=(3, 3), expansion=1, stride_at=0)
# torchvision's v1.5 bottleneck: the stride sits on the 3x3, not on the first 1x1
BOTTLENECK = BlockSpec(kernels=(1, 3, 1), expansion=4, stride_at=1)


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016): drop a sample's whole residual branch."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        """Zero the branch for a random subset of rows, rescaling the rest."""
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        """Show the drop probability."""
        return f"p={self.p:.3f}"


class ResidualBlock(nn.Module):
    """One residual block over any `Ops`; `forward(x, *ctx)`."""

    def __init__(self, ops: Ops, spec: BlockSpec, in_channels: int, planes: int, stride: int = 1, *,
                 preact: bool = False, skip: bool = True, attn: str | None = None,
                 attn_kwargs: dict | None = None, drop_path: float = 0.0, dropout: float = 0.0,
                 groups: int = 1, base_width: int = 64, avg_down: bool = False, layer: int = 0) -> None:
        super().__init__()
        self.preact, self.skip = preact, skip
        self.num_units = len(spec.kernels)
        out_channels = planes * spec.expansion
        mid = int(planes * (base_width / 64.0)) * groups
        last = self.num_units - 1
        for i, k in enumerate(spec.kernels):
            cin = in_channels if i == 0 else mid
            cout = out_channels if i == last else mid
            at = i == spec.stride_at
            conv = ops.conv(cin, cout, k, stride if at else 1, groups=groups if at else 1, layer=layer)
            norm = ops.norm(cin if preact else cout)
            # registration order follows the order of use, so printing the block reads as it runs
            for name, module in (("bn", norm), ("conv", conv))[:: 1 if preact else -1]:
                self.add_module(f"{name}{i + 1}", module)
        self.act = ops.act()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.attn = create_attn(attn, ops, out_channels, **(attn_kwargs or {}))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.downsample: nn.Module | None = None
        if skip and (stride != 1 or in_channels != out_channels):
            layers = [ops.avg_pool(stride)] if avg_down else []
            layers.append(ops.project(in_channels, out_channels, 1 if avg_down else stride))
            if not preact:  # a pre-activation shortcut takes the already normalised input
                layers.append(ops.norm(out_channels))
            self.downsample = nn.Sequential(*layers)
        self.out_channels = out_channels

    def zero_init_last(self) -> None:
        """Start the branch at zero so the block begins as the identity (Goyal et al. 2017)."""
        last = getattr(self, f"{'conv' if self.preact else 'bn'}{self.num_units}")
        for name, p in last.named_parameters():
            if name.endswith("weight"):  # conv kernels, norm scales; biases already start at 0
                nn.init.zeros_(p)

    def forward(self, x: Tensor, *ctx) -> Tensor:
        """`act(x' + F(x))`, or `x' + F(x)` with F starting from norm and act when pre-activated."""
        shortcut = x
        out = x
        for i in range(1, self.num_units + 1):
            if self.preact:
                out = self.act(getattr(self, f"bn{i}")(out))
                if i == 1 and self.downsample is not None:
                    shortcut = self.downsample(out)
                out = getattr(self, f"conv{i}")(self.drop(out), *ctx)
            else:
                out = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(self.drop(out), *ctx))
                if i < self.num_units:
                    out = self.act(out)
        if self.attn is not None:
            out = self.attn(out, *ctx)
        out = self.drop_path(out)
        if self.skip:
            if not self.preact and self.downsample is not None:
                shortcut = self.downsample(x)
            out = out + shortcut
        return out if self.preact else self.act(out)


class Stage(nn.Sequential):
    """A run of blocks at one width that passes ctx to each (names: layerN.i)."""

    def forward(self, x: Tensor, *ctx) -> Tensor:
        """Apply every block in turn."""
        for block in self:
            x = block(x, *ctx)
        return x



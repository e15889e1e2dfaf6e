"""The network: stem + stages + head, assembled from a spec over any `Ops`.

Attribute names follow torchvision (conv1, bn1, relu, maxpool, layer1.., fc), so a torchvision
ResNet state_dict loads into the matching image model unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from torch import Tensor, nn

from resnet_any.core.blocks import BlockSpec, ResidualBlock, Stage
from resnet_any.core.ops import Ops
from resnet_any.errors import UserError


@dataclass(frozen=True)
class StemSpec:
    """The first operator: kernel, stride, whether a 3/2 max-pool follows; width None = no stem."""

    kernel: int | tuple = 7
    stride: int | tuple = 2
    pool: bool = True
    width: int | None = 64


STEMS = {
    "imagenet": StemSpec(7, 2, True),
    "cifar": StemSpec(3, 1, False),
    "none": StemSpec(width=None),
}


class ResNet(nn.Module):
    """A residual network over any operator family; `forward(x, *ctx)`."""

    def __init__(self, ops: Ops, block: BlockSpec, layers: Sequence[int], widths: Sequence[int], *,
                 in_channels: int = 3, num_classes: int = 1000, stem: str | StemSpec = "imagenet",
                 strides: Sequence[int] | None = None, preact: bool = False, skip: bool = True,
                 attn: str | None = None, attn_kwargs: dict | None = None, drop_path_rate: float = 0.0,
                 dropout: float = 0.0, head_dropout: float = 0.0, zero_init_residual: bool = False,
                 groups: int = 1, base_width: int = 64, avg_down: bool = False) -> None:
        super().__init__()
        if len(layers) != len(widths):
            raise UserError(f"need one width per stage: {len(layers)} stages, {len(widths)} widths")
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes)):
            if not isinstance(value, int) or value < 1:
                raise UserError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= drop_path_rate < 1.0:
            raise UserError(f"drop_path_rate must be in [0, 1), got {drop_path_rate!r}")
        if isinstance(stem, str):
            if stem not in STEMS:
                raise UserError(f"unknown stem {stem!r}; valid: {', '.join(STEMS)}")
            stem = StemSpec(STEMS[stem].kernel, STEMS[stem].stride, STEMS[stem].pool,
                            widths[0] if STEMS[stem].width else None)
        self.ops, self.preact = ops, preact
        strides = list(strides) if strides is not None else [1] + [2] * (len(layers) - 1)

        channels = in_channels
        self.conv1: nn.Module | None = None
        if stem.width is not None:
            self.conv1 = ops.stem_conv(in_channels, stem.width, stem.kernel, stem.stride)
            channels = stem.width
        # a pre-activation network normalises at the start of each block instead (He et al. 2016)
        self.bn1 = ops.norm(channels) if self.conv1 is not None and not preact else nn.Identity()
        self.relu = ops.act() if self.conv1 is not None and not preact else nn.Identity()
        self.maxpool = ops.max_pool() if stem.pool else nn.Identity()

        total = sum(layers)
        index = 0
        self.stage_names: list[str] = []
        for s, (depth, width, stride) in enumerate(zip(layers, widths, strides)):
            blocks = []
            for b in range(depth):
                blocks.append(ResidualBlock(
                    ops, block, channels, width, stride if b == 0 else 1, preact=preact, skip=skip,
                    attn=attn, attn_kwargs=attn_kwargs,
                    # stochastic depth grows linearly with depth (Huang et al. 2016)
                    drop_path=drop_path_rate * index / max(total - 1, 1),
                    dropout=dropout, groups=groups, base_width=base_width, avg_down=avg_down,
                    layer=index + 1))
                channels = blocks[-1].out_channels
                index += 1
            self.add_module(f"layer{s + 1}", Stage(*blocks))
            self.stage_names.append(f"layer{s + 1}")
        self.norm = nn.Sequential(ops.norm(channels), ops.act()) if preact else nn.Identity()
        self.head_drop = nn.Dropout(head_dropout) if head_dropout > 0 else nn.Identity()
        self.num_features = channels
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        """Kaiming-normal convolutions and unit norms, as torchvision."""
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, ResidualBlock):
                    m.zero_init_last()

    def _stem(self, x: Tensor, ctx: tuple) -> tuple[Tensor, tuple]:
        """Apply the stem; initial-residual graph convolutions also get its output in ctx."""
        if self.conv1 is not None:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x, *ctx))))
        if self.ops.needs_x0:
            ctx = (*ctx, x)
        return x, ctx

    def forward_features(self, x: Tensor, *ctx) -> Tensor:
        """The last stage's output before pooling."""
        x, ctx = self._stem(x, ctx)
        for name in self.stage_names:
            x = getattr(self, name)(x, *ctx)
        return self.norm(x)

    def forward_stages(self, x: Tensor, *ctx) -> list[Tensor]:
        """The stem's and every stage's output, for feature pyramids and inspection."""
        x, ctx = self._stem(x, ctx)
        features = [x]
        for name in self.stage_names:
            x = getattr(self, name)(x, *ctx)
            features.append(x)
        return features

    def forward_head(self, x: Tensor, *ctx) -> Tensor:
        """Pool (per sample, per graph, or not at all for node tasks) and classify."""
        return self.fc(self.head_drop(self.ops.readout(x, *ctx)))

    def forward(self, x: Tensor, *ctx) -> Tensor:
        """Logits: one row per sample (grids), per node or per graph (graphs)."""
        return self.forward_head(self.forward_features(x, *ctx), *ctx)

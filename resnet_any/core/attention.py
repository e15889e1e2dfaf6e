"""Channel attention chosen by name (`attn="se"`), written once for every space."""
from __future__ import annotations

import math
from typing import Callable

from torch import Tensor, nn

from resnet_any.core.ops import Ops
from resnet_any.errors import UserError


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): per-sample channel gates from a global mean."""

    def __init__(self, ops: Ops, channels: int, rd_ratio: float = 1 / 16, min_channels: int = 8) -> None:
        super().__init__()
        self.ops = ops
        hidden = max(min_channels, round(channels * rd_ratio))
        self.fc1 = nn.Linear(channels, hidden)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: Tensor, *ctx) -> Tensor:
        """Scale each channel of `x` by a gate computed from its sample's mean."""
        s = self.ops.squeeze(x, *ctx)
        gate = self.fc2(self.act(self.fc1(s))).sigmoid()
        return x * self.ops.expand(gate, x, *ctx)


class EfficientChannelAttention(nn.Module):
    """ECA (Wang et al. 2020): a 1D convolution across channels instead of an MLP."""

    def __init__(self, ops: Ops, channels: int, gamma: int = 2, beta: int = 1) -> None:
        super().__init__()
        self.ops = ops
        k = int(abs(math.log2(channels) + beta) / gamma)
        k = k if k % 2 else k + 1
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x: Tensor, *ctx) -> Tensor:
        """Scale each channel by a gate from its neighbours' means."""
        s = self.ops.squeeze(x, *ctx)
        gate = self.conv(s.unsqueeze(1)).squeeze(1).sigmoid()
        return x * self.ops.expand(gate, x, *ctx)


ATTENTION: dict[str, Callable[..., nn.Module]] = {"se": SqueezeExcite, "eca": EfficientChannelAttention}


def create_attn(name: str | None, ops: Ops, channels: int, **kwargs) -> nn.Module | None:
    """Build the attention module called `name` (None or "none" for no attention)."""
    if name is None or name == "none":
        return None
    if name not in ATTENTION:
        raise UserError(f"unknown attention {name!r}; valid: none, {', '.join(ATTENTION)}")
    return ATTENTION[name](ops, channels, **kwargs)

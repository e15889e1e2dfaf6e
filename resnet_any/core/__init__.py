"""The residual core: operator families, the block written once, the network and the registry (a leaf).

The built-in models register in `resnet_any.domains`, which also holds `create_model` and `list_models`.
"""
from resnet_any.core.attention import ATTENTION, EfficientChannelAttention, SqueezeExcite, create_attn
from resnet_any.core.blocks import BASIC, BOTTLENECK, BlockSpec, DropPath, ResidualBlock, Stage
from resnet_any.core.network import STEMS, ResNet, StemSpec
from resnet_any.core.ops import GraphOps, GridOps, Ops
from resnet_any.core.registry import register_model

__all__ = [
    "ATTENTION", "BASIC", "BOTTLENECK", "BlockSpec", "DropPath", "EfficientChannelAttention", "GraphOps",
    "GridOps", "Ops", "ResNet", "ResidualBlock", "STEMS", "SqueezeExcite", "Stage", "StemSpec",
    "create_attn", "register_model",
]

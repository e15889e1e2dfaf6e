"""The residual core: operator families, the block written once, the network and the registry."""
from resnet_any.core.attention import ATTENTION, EfficientChannelAttention, SqueezeExcite, create_attn
from resnet_any.core.blocks import BASIC, BOTTLENECK, BlockSpec, DropPath, ResidualBlock, Stage
from resnet_any.core.network import STEMS, ResNet, StemSpec
from resnet_any.core.ops import GraphOps, GridOps, Ops
from resnet_any.core.registry import create_model, list_models, model_domain, register_model

__all__ = [
    "ATTENTION", "BASIC", "BOTTLENECK", "BlockSpec", "DropPath", "EfficientChannelAttention", "GraphOps",
    "GridOps", "Ops", "ResNet", "ResidualBlock", "STEMS", "SqueezeExcite", "Stage", "StemSpec",
    "create_attn", "create_model", "list_models", "model_domain", "register_model",
]

"""resnet_any: one residual core for images, time series, volumes and graphs."""
from resnet_any.core import (
    BASIC, BOTTLENECK, BlockSpec, GraphOps, GridOps, Ops, ResidualBlock, ResNet, StemSpec, create_model,
    list_models, register_model,
)
from resnet_any.errors import UserError

__version__ = "0.1.0"

__all__ = [
    "BASIC", "BOTTLENECK", "BlockSpec", "GraphOps", "GridOps", "Ops", "ResidualBlock", "ResNet", "StemSpec",
    "UserError", "create_model", "list_models", "register_model", "__version__",
]

"""The model factory: a registered model built, with torchvision's ImageNet weights when asked (timm's `_factory`)."""
from __future__ import annotations

from typing import Any

from torch import nn

from resnet_any.core.registry import build
from resnet_any.domains.pretrained import load_weights, weights_file


def create_model(name: str, *, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """Build the model registered as `name` with keyword overrides (num_classes, in_channels, ...).

    Args:
        name: a registered model name (`list_models()` lists them).
        pretrained: load torchvision's ImageNet weights from torch.hub's cache (never downloaded); a head of
            another `num_classes` stays fresh. Only the image ResNets that are torchvision's architectures have them.
        **kwargs: the builder's arguments (num_classes, in_channels, width, attn, drop_path_rate, ...).
    """
    if not pretrained:
        return build(name, **kwargs)
    path = weights_file(name, kwargs.get("in_channels", 3))  # before building: a missing file fails at once
    model = build(name, **kwargs)
    load_weights(model, name, path)
    return model

"""One registry of model names -> builders, across every domain.

A leaf, as timm's `_registry` is: it imports no model file and loads no weights. Model files register
themselves when imported; `resnet_any.domains` imports the built-in ones and holds the factory
(`create_model`, with weights) above this table, as timm's `_factory` sits above its registry.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable

from torch import nn

from resnet_any.errors import UserError

_MODELS: dict[str, tuple[str, Callable[..., nn.Module]]] = {}


def register_model(name: str, domain: str, builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register `builder` under `name` for `domain` (image, series, volume, graph, ...)."""
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    _MODELS[name] = (domain, builder)
    return builder


def list_models(domain: str | None = None) -> list[str]:
    """Every registered model name, optionally only those of one domain."""
    return sorted(n for n, (d, _) in _MODELS.items() if domain is None or d == domain)


def model_domain(name: str) -> str:
    """The domain a model name belongs to."""
    _check_name(name)
    return _MODELS[name][0]


def _check_name(name: str) -> None:
    if name not in _MODELS:
        close = difflib.get_close_matches(str(name), _MODELS, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UserError(f"unknown model {name!r}{hint}; valid: {', '.join(sorted(_MODELS))}")


def build(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered as `name` with fresh weights and keyword overrides (num_classes, in_channels, ...).

    Loading weights (`pretrained`, checkpoints) happens a floor up, in resnet_any.domains.factory.
    """
    _check_name(name)
    builder = _MODELS[name][1]
    params = inspect.signature(builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            valid = ", ".join(params)
            raise UserError(f"model {name!r} takes no argument {', '.join(unknown)}; valid: {valid}")
    return builder(**kwargs)

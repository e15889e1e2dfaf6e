"""The shared trainer: options -> make_plan (a frozen Plan) -> Trainer.run() record stream; fit, train() and the CLI consume it.

Public names, imported on first use (torch loads only when the trainer is used, so the CLI rejects bad flags
without importing it).
"""
from __future__ import annotations

from typing import Any

from resnet_any.train.options import TrainConfig

_LAZY = {"Trainer": "resnet_any.train.run.trainer", "train": "resnet_any.train.run.trainer",
         "Callback": "resnet_any.train.run.callbacks", "EarlyStopping": "resnet_any.train.run.callbacks",
         "Pruning": "resnet_any.train.run.callbacks", "make_plan": "resnet_any.train.plan.make",
         "Plan": "resnet_any.train.plan.types", "load_checkpoint": "resnet_any.domains.weights"}

__all__ = sorted([*_LAZY, "TrainConfig"])


def __getattr__(name: str) -> Any:
    """A public name of the trainer, imported from its module on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'resnet_any.train' has no attribute {name!r}")

"""The shared trainer: TrainConfig -> Trainer.run() record stream; train() and the CLI consume it."""
from __future__ import annotations

from typing import Any

from resnet_any.train.config import TrainConfig

__all__ = ["TrainConfig", "Trainer", "load_checkpoint", "train"]


def __getattr__(name: str) -> Any:
    # torch loads only when the trainer is used, so the CLI rejects bad flags without importing it
    if name in ("Trainer", "train"):
        from resnet_any.train.run import trainer

        return getattr(trainer, name)
    if name == "load_checkpoint":
        from resnet_any.domains.weights import load_checkpoint

        return load_checkpoint
    raise AttributeError(f"module 'resnet_any.train' has no attribute {name!r}")

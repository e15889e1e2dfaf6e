"""Hooks into the one loop: what callers vary without reaching into the trainer (early stopping, parameter groups).

A callback sees the records as they are made and may ask the run to stop (`trainer.request_stop()`, which
ends it after the current epoch as a stop from the app or a signal does) or shape the optimizer's parameter
groups. Lightning's callbacks are the model; ours are few and typed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

if TYPE_CHECKING:
    from resnet_any.train.options import RunConfig
    from resnet_any.train.records import EndRecord, EpochRecord, StartRecord
    from resnet_any.train.trainer import Trainer


class Callback:
    """Override what you need; every hook does nothing by default."""

    def param_groups(self, model: nn.Module, config: "RunConfig") -> list[dict[str, Any]] | None:
        """Parameter groups for the optimizer (each a dict with "params" and optional "weight_decay"), or None."""
        return None

    def on_start(self, trainer: "Trainer", record: "StartRecord") -> None:
        """Called once before the first step."""

    def on_epoch_end(self, trainer: "Trainer", record: "EpochRecord") -> None:
        """Called after each finished epoch (its metrics are in `record`, its checkpoint is queued)."""

    def on_end(self, trainer: "Trainer", record: "EndRecord") -> None:
        """Called once with the summary."""


class EarlyStopping(Callback):
    """Stop once neither validation accuracy nor validation loss has improved for `patience` epochs.

    Without a validation split (select: train_loss) it watches the training loss. The run still tests the
    epoch its selection rule picked, so stopping early never changes which epoch is scored.
    """

    def __init__(self, patience: int) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience = patience
        self.stopped_epoch: int | None = None
        self._reset()

    def _reset(self) -> None:
        self.best = (-1.0, float("inf"))
        self.best_loss = float("inf")
        self.since = 0

    def on_start(self, trainer: "Trainer", record: "StartRecord") -> None:
        """Replay the finished epochs of a resumed run, so it stops where an uninterrupted one would."""
        self._reset()
        for row in record["history"]:
            self._count(row)

    def on_epoch_end(self, trainer: "Trainer", record: "EpochRecord") -> None:
        """Count epochs without a gain; ask the run to stop after `patience` of them."""
        self._count(record)
        if self.since >= self.patience and self.stopped_epoch is None:
            self.stopped_epoch = record["epoch"]
            trainer.request_stop()

    def _count(self, record: Any) -> None:
        acc, loss = record["val_acc"], record["val_loss"]
        if acc is None or loss is None:
            acc, loss = 0.0, record["train_loss"]
        if (acc, -loss) > (self.best[0], -self.best[1]) or loss < self.best_loss:
            self.since = 0
        else:
            self.since += 1
        self.best = max(self.best, (acc, loss), key=lambda t: (t[0], -t[1]))
        self.best_loss = min(self.best_loss, loss)

"""Hooks into the one loop: what callers vary without reaching into the trainer (early stopping, parameter groups).

A callback sees the records as they are made and may ask the run to stop (`trainer.request_stop()`, which
ends it after the current epoch as a stop from the app or a signal does) or shape the optimizer's parameter
groups. Lightning's callbacks are the model; ours are few and typed.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

from torch import nn

from resnet_any.train.run.selection import improves

if TYPE_CHECKING:
    from resnet_any.train.options import RunConfig
    from resnet_any.train.run.records import EndRecord, EpochRecord, StartRecord


class Run(Protocol):
    """What a callback may use of the run it watches (the Trainer): its options, and a request to stop."""

    cfg: "RunConfig"

    def request_stop(self, early: bool = True) -> None:
        """End the run after the current epoch."""


class Callback:
    """Override what you need; every hook does nothing by default."""

    def param_groups(self, model: nn.Module, config: "RunConfig") -> list[dict[str, Any]] | None:
        """Parameter groups for the optimizer (each a dict with "params" and optional "weight_decay"), or None."""
        return None

    def on_start(self, trainer: Run, record: "StartRecord") -> None:
        """Called once before the first step."""

    def on_epoch_end(self, trainer: Run, record: "EpochRecord") -> None:
        """Called after each finished epoch (its metrics are in `record`, its checkpoint is queued)."""

    def on_end(self, trainer: Run, record: "EndRecord") -> None:
        """Called once with the summary."""


class EarlyStopping(Callback):
    """Stop once the --select metric has not gained more than `min_delta` for `patience` epochs (--early-stop).

    Gains are judged as the trainer judges its best epoch (selection.py), so the run still tests the epoch
    its selection rule picked and stopping early never changes which epoch is scored.
    """

    def __init__(self, patience: int, select: str | tuple[str, ...] | None = None, min_delta: float = 0.0) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience, self.select, self.min_delta = patience, select, min_delta
        self.stopped_epoch: int | None = None
        self._reset()

    def _reset(self) -> None:
        self.bests: dict[str, dict[str, Any]] = {}
        self.since = 0

    def on_start(self, trainer: Run, record: "StartRecord") -> None:
        """Replay the finished epochs of a resumed run, so it stops where an uninterrupted one would."""
        self._reset()
        if self.select is None:  # the run's own rule (a resumed run keeps its saved one)
            self.select = record.get("config", {}).get("select")
        for row in record["history"]:
            self._count(row)

    def on_epoch_end(self, trainer: Run, record: "EpochRecord") -> None:
        """Count epochs without a gain; ask the run to stop after `patience` of them."""
        self._count(record)
        if self.since >= self.patience and self.stopped_epoch is None:
            self.stopped_epoch = record["epoch"]
            trainer.request_stop()

    def _count(self, record: Any) -> None:
        # without a configured rule: the validation metric when the run has one, else the training loss
        select = self.select or ("train_loss" if record.get("val_loss") is None else "val")
        rules = (select,) if isinstance(select, str) else select
        # several rules (e.g. ("val", "val_loss")): a gain under any of them counts, each against its own best
        gained = False
        for rule in rules:
            if improves(record, self.bests.get(rule), rule, self.min_delta):
                self.bests[rule], gained = dict(record), True
        self.since = 0 if gained else self.since + 1


class Pruning(Callback):
    """Report each epoch's `metric` to an Optuna trial and stop the run after an epoch the pruner condemns.

    `trial` is an `optuna.Trial` (anything with report and should_prune); the run keeps its folder and its
    summary says after which epoch it stopped (`stopped_epoch`, as EarlyStopping's).
    """

    def __init__(self, trial: Any, metric: str) -> None:
        self.trial, self.metric = trial, metric
        self.stopped_epoch: int | None = None

    def _report(self, row: Any) -> None:
        value = row.get(self.metric)
        if value is not None and math.isfinite(value):
            self.trial.report(value, step=row["epoch"])

    def on_start(self, trainer: Run, record: "StartRecord") -> None:
        """A resumed run reports its finished epochs again, and stops at once if they already condemn it."""
        for row in record["history"]:
            self._report(row)
        if record["history"] and self.trial.should_prune():
            self.stopped_epoch = record["history"][-1]["epoch"]
            trainer.request_stop()

    def on_epoch_end(self, trainer: Run, record: "EpochRecord") -> None:
        """Report the epoch; ask the run to stop if the pruner judges the trial hopeless (not after its last epoch)."""
        self._report(record)
        if record["epoch"] < trainer.cfg.epochs and self.trial.should_prune():
            self.stopped_epoch = record["epoch"]
            trainer.request_stop()

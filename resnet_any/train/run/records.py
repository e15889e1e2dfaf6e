"""The records a run yields, in order: one start, steps (throttled), one epoch per finished epoch, one end.

They are plain dicts (JSON-able, what the sinks and the app consume); these types say which keys each holds.
"""
from __future__ import annotations

from typing import Any, TypedDict

try:
    from typing import NotRequired
except ImportError:  # Python 3.10
    from typing_extensions import NotRequired


class StartRecord(TypedDict):
    """Before the first step: the resolved config and what the run will do."""

    type: str  # "start"
    config: dict[str, Any]
    parameters: int
    trainable_parameters: int
    num_classes: int
    class_names: list[str]
    steps_per_epoch: int
    epochs: int
    start_epoch: int
    samples: dict[str, int]
    device: str
    precision: str                   # "bf16 autocast (AVX512-BF16), channels_last", "fp32", ...
    history: list[dict[str, Any]]
    out: str
    notes: list[str]  # choices made for the user (an inferred domain, a recipe), said once


class StepRecord(TypedDict):
    """About ten times a second while training: the running loss of the epoch and the time left."""

    type: str  # "step"
    epoch: int
    step: int
    steps_per_epoch: int
    loss: float
    samples_per_s: float
    eta_s: float


class EpochRecord(TypedDict):
    """One finished epoch: the metrics.jsonl row (val_* are None under select: train_loss)."""

    type: str  # "epoch"
    epoch: int
    lr: float
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    val_balanced_accuracy: float | None  # mean recall over the classes present (metrics.py for the conventions)
    val_macro_f1: float | None
    val_auroc: float | None              # None unless --select watches it (its cost: trainer.evaluate), or undefined
    seconds: float
    samples_per_s: float


class EndRecord(TypedDict):
    """The summary (summary.json): the chosen epoch, its test metrics, and whether the run was stopped."""

    type: str  # "end"
    best_epoch: int | None
    select: str
    best_val_acc: float | None
    best_val_loss: float | None
    best_train_loss: float | None
    test_accuracy: float | None
    test_loss: float | None
    test_balanced_accuracy: float | None
    test_macro_f1: float | None
    test_auroc: float | None
    test_per_class: dict[str, dict[str, float]] | None  # class name -> precision, recall, f1, support
    parameters: int
    wall_seconds: float
    dataset: str
    model: str
    domain: str
    epochs: int
    skipped_steps: int
    out: str
    stopped: bool                       # stopped before its last epoch by a signal or the app (resumable)
    early_stopped: NotRequired[bool]    # ended by a callback (early stopping), not interrupted
    early_stopped_epoch: NotRequired[int]  # the epoch after which it stopped
    notes: NotRequired[list[str]]       # the start record's notes, kept in summary.json
    warnings: list[str]                 # symptoms of a run that learns nothing (health.py); empty when healthy


Record = StartRecord | StepRecord | EpochRecord | EndRecord

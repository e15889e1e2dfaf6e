"""Which epoch is best: the --select metric of an epoch's record, as one "higher is better" key.

The trainer keeps best.pt by it and --early-stop watches it, so both agree on what a gain is.
Accuracy-like metrics break ties by the lower validation loss (a 30-sample validation split saturates at
100% long before the model stops improving).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

# --select -> (the record's key, +1 when higher is better / -1 when lower is); the plan resolves "val" to the
# task's own metric (VAL_BY_TASK) so a regression never watches an accuracy it does not have
MONITORED: dict[str, tuple[str, int]] = {
    "val": ("val_acc", 1),
    "val_acc": ("val_acc", 1),
    "val_loss": ("val_loss", -1),
    "val_macro_f1": ("val_macro_f1", 1),
    "val_balanced_accuracy": ("val_balanced_accuracy", 1),
    "val_auroc": ("val_auroc", 1),
    "val_rmse": ("val_rmse", -1),
    "val_mae": ("val_mae", -1),
    "val_r2": ("val_r2", 1),
    "val_map": ("val_map", 1),
    "val_micro_f1": ("val_micro_f1", 1),
    "train_loss": ("train_loss", -1),
}


VAL_BY_TASK = {"classify": "val", "regress": "val_rmse", "multilabel": "val_map"}
# the --select values that need the task's own metrics
TASK_SELECTS = {"classify": ("val", "val_acc", "val_balanced_accuracy", "val_macro_f1", "val_auroc"),
                "regress": ("val_rmse", "val_mae", "val_r2"),
                "multilabel": ("val_map", "val_micro_f1", "val_macro_f1", "val_auroc", "val_acc")}


def for_task(select: str, task: str) -> str:
    """--select resolved for a task ("val" is the task's own metric); a metric of another task: a UserError."""
    from resnet_any.errors import UserError

    if select == "val":
        return VAL_BY_TASK[task]
    if select in ("val_loss", "train_loss") or select in TASK_SELECTS[task]:
        return select
    valid = ", ".join(("val", "val_loss", "train_loss", *TASK_SELECTS[task]))
    raise UserError(f"--select {select} is not a metric of a {task} run; valid: {valid}", public=True)


def monitored(select: str) -> str:
    """The record key the --select rule watches (val_acc for "val")."""
    return MONITORED[select][0]


def selects_on_val(select: str) -> bool:
    """Whether the rule needs a validation split (all but train_loss)."""
    return select != "train_loss"


def score(record: Mapping[str, Any], select: str) -> tuple[float, float]:
    """(primary, tie-break), both higher-is-better, of an epoch record under `select`; missing values rank last."""
    key, sign = MONITORED[select]
    value = record.get(key)
    primary = sign * value if value is not None and math.isfinite(value) else -math.inf
    loss = record.get("val_loss")
    tie = -loss if sign > 0 and loss is not None and math.isfinite(loss) else 0.0
    return primary, tie


def improves(record: Mapping[str, Any], best: Mapping[str, Any] | None, select: str, min_delta: float = 0.0) -> bool:
    """Whether `record` beats `best` under `select`: the metric gains more than min_delta, or ties and wins the tie-break."""
    if best is None:
        return True
    new, old = score(record, select), score(best, select)
    if new[0] > old[0] + min_delta:
        return True
    # an accuracy equal to the best (not merely within min_delta) with a lower loss is still progress
    return new[0] == old[0] and new[1] > old[1] + min_delta

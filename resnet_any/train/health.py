"""A run that learns nothing says so: symptoms watched on every run, reported once, kept in summary.json.

The thresholds are reference points a user can check by hand, not values tuned on a dataset:
- chance: the accuracy of always predicting the most frequent class, plus two binomial standard errors
  of the split's size (a model no better than that has shown nothing on this split);
- a uniform guess's cross-entropy, ln K: a loss above it is worse than guessing;
- the first epoch's training loss: a training loss that never falls below it is not learning.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from resnet_any.train.callbacks import Callback

if TYPE_CHECKING:
    from resnet_any.train.records import EndRecord, EpochRecord, StartRecord
    from resnet_any.train.trainer import Trainer

# epochs before judging: the first ones of a warm-up schedule may legitimately look like noise
MIN_EPOCHS = 3


def chance_level(counts: list[int]) -> float:
    """Accuracy of always predicting the most frequent class, plus two binomial standard errors of the split."""
    n = sum(counts)
    if n == 0:
        return 1.0
    p = max(counts) / n
    return p + 2.0 * math.sqrt(p * (1.0 - p) / n)


class Health(Callback):
    """Watches the epochs for a run that learns nothing; the trainer adds one to every run."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.history: list[dict[str, Any]] = []
        self.num_classes = 2
        self.val_counts: list[int] = []

    def on_start(self, trainer: "Trainer", record: "StartRecord") -> None:
        """Learn the class count and the validation split's class balance (a resumed run replays its history)."""
        self.num_classes = record["num_classes"]
        self.val_counts = trainer.class_counts("val")
        self.history = [dict(r) for r in record["history"]]

    def on_epoch_end(self, trainer: "Trainer", record: "EpochRecord") -> None:
        """Keep the epoch's metrics; judging waits for the end, when the whole curve is known."""
        self.history.append(dict(record))

    def verdict(self) -> list[str]:
        """One line per symptom, each with the most likely fix; empty for a healthy run."""
        rows = self.history
        if len(rows) < MIN_EPOCHS:
            return []
        out = []
        uniform = math.log(max(self.num_classes, 2))
        val = [r["val_loss"] for r in rows if r.get("val_loss") is not None]
        if val and (not all(math.isfinite(v) for v in val) or (val[-1] > uniform and val[-1] > 2 * val[0])):
            out.append(f"validation loss diverged ({val[0]:.3g} after epoch 1, {val[-1]:.3g} at the end, above a "
                       f"uniform guess's {uniform:.3g}): lower the learning rate or the model size, or use a smaller batch")
        accs = [r["val_acc"] for r in rows if r.get("val_acc") is not None]
        if accs and self.val_counts and max(accs) <= chance_level(self.val_counts):
            share = max(self.val_counts) / sum(self.val_counts)
            out.append(f"validation accuracy never rose above chance (best {max(accs):.3f}; predicting the most "
                       f"frequent class scores {share:.3f}): check the labels, then try a lower learning rate or "
                       "more epochs")
        train = [r["train_loss"] for r in rows]
        if all(math.isfinite(v) for v in train) and min(train[1:]) >= train[0]:
            out.append(f"training loss never fell below its first epoch's ({train[0]:.3g}): lower the learning "
                       "rate, or check that inputs and labels belong together")
        return out

    def on_end(self, trainer: "Trainer", record: "EndRecord") -> None:
        """Nothing: the trainer asks for the verdict before it writes the summary."""

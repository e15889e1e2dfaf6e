"""Objectives: what a model's outputs mean for each task, so one loop trains classes, numbers and tag sets.

An Objective turns outputs and targets into a loss, turns outputs into what a user reads (`decode`: class
probabilities, values in the user's units, per-tag probabilities) and scores a whole split (`metrics`):

classify:   cross-entropy (class weights, label smoothing) on class indices;
regress:    MSE (or Huber, --loss huber) on targets standardized with the training split's mean and standard
            deviation (recorded in the checkpoint's data as target_mean/target_std): the outputs are in standard
            units, `decode` brings them back to the user's;
multilabel: binary cross-entropy with logits, one output per tag (--class-weights auto: per-tag positive
            weights, negatives over positives, as BCEWithLogitsLoss's pos_weight).
Missing targets (NaN) are masked out of the loss and every metric.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

# a positive weight of a tag with very few positives is capped: 1 positive in 10,000 would weigh 10,000x
MAX_POS_WEIGHT = 100.0
LOSSES = ("auto", "mse", "huber")


class Objective:
    """Loss, decoding and metrics of one task; built from the task, the target names and the data's meta."""

    task = "classify"

    def __init__(self, names: Sequence[str], meta: dict[str, Any] | None = None, weights: Sequence[float] | None = None,
                 label_smoothing: float = 0.0, loss: str = "auto") -> None:
        self.names = [str(n) for n in names]
        self.meta = dict(meta or {})
        self.weights = None if weights is None else torch.tensor(list(weights), dtype=torch.float32)
        self.label_smoothing = float(label_smoothing or 0.0)
        self.loss_kind = loss or "auto"

    def targets(self, y: Tensor) -> Tensor:
        """A batch's targets as the loss takes them (class indices long, others float (N, K))."""
        return y.long()

    def loss(self, out: Tensor, target: Tensor) -> Tensor:
        """The training loss of a batch (target: as `targets` gives, or soft class targets when mixed)."""
        w = None if self.weights is None else self.weights.to(out.device)
        return nn.functional.cross_entropy(out.float(), target, weight=w, label_smoothing=self.label_smoothing)

    def correct(self, out: Tensor, y: Tensor) -> Tensor | None:
        """Correct predictions in a batch (training accuracy); None where accuracy has no meaning."""
        return (out.detach().argmax(1) == y).sum()

    def decode(self, out: Tensor) -> Tensor:
        """What a user reads: class probabilities (N, K)."""
        return out.float().softmax(1)

    def metrics(self, out: Tensor, y: Tensor, thresholds: Sequence[float] | None = None,
                auroc: bool = True) -> dict[str, Any]:
        """Every metric of a whole split's outputs (metrics.py); `auroc=False`: a class task's AUROC left None."""
        from resnet_any.train.run.metrics import classification_metrics

        return classification_metrics(out, y, self.names, auroc=auroc)


class Regression(Objective):
    """Numbers: outputs in standard units, MSE or Huber on standardized targets, metrics in the user's units."""

    task = "regress"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        k = len(self.names)
        self.mean = torch.tensor(self.meta.get("target_mean", [0.0] * k), dtype=torch.float32)
        self.std = torch.tensor(self.meta.get("target_std", [1.0] * k), dtype=torch.float32)

    def targets(self, y: Tensor) -> Tensor:
        """Float targets (N, K) in the user's units (standardized inside the loss)."""
        return y.float().view(len(y), -1)

    def loss(self, out: Tensor, target: Tensor) -> Tensor:
        """Masked MSE (or Huber, delta 1 standard deviation) between outputs and standardized targets."""
        z = (target - self.mean.to(out.device)) / self.std.to(out.device)
        present = ~torch.isnan(z)
        if not bool(present.any()):
            return out.float().sum() * 0.0  # a batch without one present target: no gradient, no NaN
        fn = nn.functional.huber_loss if self.loss_kind == "huber" else nn.functional.mse_loss
        return fn(out.float()[present], z[present])

    def correct(self, out: Tensor, y: Tensor) -> Tensor | None:
        """No accuracy for numbers."""
        return None

    def decode(self, out: Tensor) -> Tensor:
        """Predicted values (N, K) in the user's units."""
        return out.float() * self.std.to(out.device) + self.mean.to(out.device)

    def metrics(self, out: Tensor, y: Tensor, thresholds: Sequence[float] | None = None) -> dict[str, Any]:
        """RMSE, MAE and R² per target and averaged, in the user's units (metrics.py)."""
        from resnet_any.train.run.metrics import regression_metrics

        values = self.decode(out.float().cpu())
        y = self.targets(y.cpu())
        # plain MSE in standard units whatever --loss trained (as classes report plain cross-entropy): the
        # figure evaluate gives too
        plain = Regression(self.names, self.meta).loss(out.float().cpu(), y).item()
        return {**regression_metrics(values, y, self.names), "loss": plain}


class MultiLabel(Objective):
    """Tag sets: one logit per tag, binary cross-entropy, metrics at per-tag thresholds chosen on validation."""

    task = "multilabel"

    def targets(self, y: Tensor) -> Tensor:
        """0/1 float targets (N, K), NaN where missing."""
        return y.float().view(len(y), -1)

    def loss(self, out: Tensor, target: Tensor) -> Tensor:
        """Masked binary cross-entropy with logits (per-tag positive weights with --class-weights auto)."""
        present = ~torch.isnan(target)
        if not bool(present.any()):
            return out.float().sum() * 0.0
        pos = None if self.weights is None else self.weights.to(out.device).expand_as(target)[present]
        return nn.functional.binary_cross_entropy_with_logits(out.float()[present], target[present], pos_weight=pos)

    def correct(self, out: Tensor, y: Tensor) -> Tensor | None:
        """No running accuracy: subset accuracy is a split's metric."""
        return None

    def decode(self, out: Tensor) -> Tensor:
        """Per-tag probabilities (N, K)."""
        return out.float().sigmoid()

    def metrics(self, out: Tensor, y: Tensor, thresholds: Sequence[float] | None = None) -> dict[str, Any]:
        """mAP, micro and macro F1, AUROC, subset accuracy and per tag (metrics.py); F1 at `thresholds` or 0.5."""
        from resnet_any.train.run.metrics import multilabel_metrics

        y = self.targets(y.cpu())
        out = out.float().cpu()
        # the plain loss, as classification's metrics report plain cross-entropy: the same figure evaluate gives
        plain = MultiLabel(self.names, self.meta).loss(out, y).item()
        return {**multilabel_metrics(self.decode(out), y, self.names, thresholds), "loss": plain}


OBJECTIVES: dict[str, type[Objective]] = {"classify": Objective, "regress": Regression, "multilabel": MultiLabel}


def make_objective(task: str, names: Sequence[str], meta: dict[str, Any] | None = None,
                   weights: Sequence[float] | None = None, label_smoothing: float = 0.0,
                   loss: str = "auto") -> Objective:
    """The Objective of a task (classify, regress, multilabel)."""
    return OBJECTIVES[task](names, meta, weights, label_smoothing, loss)


def positive_weights(y: Tensor) -> list[float]:
    """Per-tag weights of the positives, negatives over positives (capped), from training targets (N, K)."""
    pos = (y == 1).sum(0).double()
    neg = (y == 0).sum(0).double()
    return (neg / pos.clamp(min=1)).clamp(min=1.0 / MAX_POS_WEIGHT, max=MAX_POS_WEIGHT).tolist()

"""Metrics of a split's predictions beyond accuracy: balanced accuracy, macro F1, AUROC and per-class scores.

One function, `classification_metrics`, from a whole split's logits and targets, so training (every epoch's
validation, the test pass), `evaluate` and the app all report the same numbers. Conventions follow
scikit-learn's where torchmetrics differs (checked against it in tests/test_metrics.py):

- balanced_accuracy: the mean recall over the classes present in the targets (sklearn's
  balanced_accuracy_score). torchmetrics' macro recall would also count a class that is absent from the
  targets but predicted, as recall 0, so it is averaged here from the per-class recalls instead.
- macro_f1: the mean F1 over all K classes, 0 for a class with no true nor predicted sample (sklearn's
  f1_score(average="macro", labels=range(K), zero_division=0)). torchmetrics' macro average drops such
  classes, so it too is averaged here from the per-class values.
- auroc: binary, the AUROC of the positive class's probability; K > 2, one-vs-rest AUROC averaged over the
  classes present in the targets (a class without positives has no ROC curve; sklearn raises there).
  None, not NaN, when it is undefined: fewer than two classes in the targets, or non-finite logits.
- per_class: precision, recall and F1 (0 when undefined, as sklearn's zero_division=0) with the support, so
  a 0 recall of a class with no sample reads as such.
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import torch
from torch import Tensor, nn

# The metrics beyond loss and accuracy that records carry per split: val_<name> per epoch, test_<name> at the end.
EXTRA_METRICS = ("balanced_accuracy", "macro_f1", "auroc")
# The keys classification_metrics returns besides per_class and n, all None for a split that was not scored
# (no validation split under select: train_loss, no test split).
SCALARS = ("loss", "acc", *EXTRA_METRICS)


def no_metrics() -> dict[str, Any]:
    """The metrics of a split that was not scored: every value None."""
    return {**dict.fromkeys(SCALARS), "per_class": None}


def classification_metrics(logits: Tensor, targets: Tensor,
                           class_names: Sequence[Any] | None = None) -> dict[str, Any]:
    """Cross-entropy, accuracy, balanced accuracy, macro F1, AUROC, per-class scores and n of (N, K) logits."""
    # imported here: torchmetrics pulls in torchvision and more (seconds), which only scoring needs
    from torchmetrics.functional.classification import multiclass_f1_score, multiclass_precision, multiclass_recall

    logits, targets = logits.float(), targets.long()
    k = logits.shape[1]
    names = [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(k)]
    preds = logits.argmax(1)
    support = torch.bincount(targets, minlength=k)
    present = support > 0
    # the arguments are well-formed by construction; torchmetrics' checks would cost more than the metrics
    stat = {"num_classes": k, "average": "none", "validate_args": False}
    precision = multiclass_precision(preds, targets, **stat)
    recall = multiclass_recall(preds, targets, **stat)
    f1 = multiclass_f1_score(preds, targets, **stat)
    columns = zip(names, precision.tolist(), recall.tolist(), f1.tolist(), support.tolist())
    return {
        "loss": nn.functional.cross_entropy(logits, targets).item(),
        "acc": (preds == targets).float().mean().item(),
        "balanced_accuracy": recall[present].mean().item(),
        "macro_f1": f1.mean().item(),
        "auroc": _auroc(logits, targets, present),
        "per_class": {name: {"precision": p, "recall": r, "f1": f, "support": n} for name, p, r, f, n in columns},
        "n": len(targets),
    }


def _auroc(logits: Tensor, targets: Tensor, present: Tensor) -> float | None:
    """Binary or one-vs-rest macro AUROC over the classes present; None where undefined."""
    from torchmetrics.functional.classification import binary_auroc, multiclass_auroc

    if int(present.sum()) < 2 or not bool(torch.isfinite(logits).all()):
        return None
    # in float64: float32 probabilities of a confident model round to exactly 0 or 1 (a logit gap of ~17),
    # and the ties that makes would change the ranking AUROC measures
    probs = logits.double().softmax(1)
    k = logits.shape[1]
    if k == 2:
        return binary_auroc(probs[:, 1], targets, validate_args=False).item()
    with warnings.catch_warnings():
        # it warns of each absent class's undefined ROC, which is left out of the mean just below
        warnings.filterwarnings("ignore", message="No positive samples in targets")
        per_class = multiclass_auroc(probs, targets, num_classes=k, average="none", validate_args=False)
    return per_class[present].mean().item()

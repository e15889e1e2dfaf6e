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

# The metrics beyond loss and accuracy that records carry per split and task: val_<name> per epoch,
# test_<name> at the end (acc is subset accuracy for multilabel, None for regress).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classify": ("balanced_accuracy", "macro_f1", "auroc"),
    "regress": ("rmse", "mae", "r2"),
    "multilabel": ("map", "micro_f1", "macro_f1", "auroc"),
}
EXTRA_METRICS = TASK_METRICS["classify"]
# The keys classification_metrics returns besides per_class and n, all None for a split that was not scored
# (no validation split under select: train_loss, no test split).
SCALARS = ("loss", "acc", *EXTRA_METRICS)


def no_metrics(task: str = "classify") -> dict[str, Any]:
    """The metrics of a split that was not scored: every value None."""
    return {**dict.fromkeys(("loss", "acc", *TASK_METRICS[task])), "per_class": None}


def classification_metrics(logits: Tensor, targets: Tensor, class_names: Sequence[Any] | None = None,
                           auroc: bool = True) -> dict[str, Any]:
    """Cross-entropy, accuracy, balanced accuracy, macro F1, AUROC, per-class scores and n of (N, K) logits.

    `auroc=False` leaves AUROC None: its exact one-vs-rest curves cost ~4 ms of the ~5 ms these metrics take
    on 500 samples, which the trainer's every-epoch validation pays only when --select watches it.
    """
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
        "auroc": _auroc(logits, targets, present) if auroc else None,
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


def regression_metrics(values: Tensor, targets: Tensor, names: Sequence[Any] | None = None) -> dict[str, Any]:
    """RMSE, MAE and R² of (N, K) predictions against targets (NaN = missing), per target and averaged uniformly.

    Each target is scored on its present values only (scikit-learn's mean_squared_error, mean_absolute_error
    and r2_score on those rows); the averages are the plain means over the targets, as multioutput=
    "uniform_average". R² is None for a target with fewer than two present values or none of variance.
    """
    from torchmetrics.functional.regression import mean_absolute_error, mean_squared_error, r2_score

    values, targets = values.double().view(len(values), -1), targets.double().view(len(targets), -1)
    k = targets.shape[1]
    names = [str(c) for c in names] if names is not None else [str(i) for i in range(k)]
    per: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(names):
        present = ~torch.isnan(targets[:, j])
        p, t = values[present, j], targets[present, j]
        if not len(t):
            per[name] = {"rmse": None, "mae": None, "r2": None, "n": 0}
            continue
        r2 = r2_score(p, t).item() if len(t) > 1 and float(t.var()) > 0 else None
        per[name] = {"rmse": mean_squared_error(p, t, squared=False).item(), "mae": mean_absolute_error(p, t).item(),
                     "r2": r2, "n": int(len(t))}

    def mean(key: str) -> float | None:
        got = [v[key] for v in per.values() if v[key] is not None]
        return sum(got) / len(got) if got else None

    # how much the predictions vary against the targets (1: as much; 0: one value for every sample)
    ratios = []
    for j in range(k):
        present = ~torch.isnan(targets[:, j])
        if int(present.sum()) > 1 and float(targets[present, j].std()) > 0:
            ratios.append(float(values[present, j].std() / targets[present, j].std()))
    return {"acc": None, "rmse": mean("rmse"), "mae": mean("mae"), "r2": mean("r2"), "per_class": per,
            "spread": sum(ratios) / len(ratios) if ratios else None, "n": len(targets)}


def choose_thresholds(probs: Tensor, targets: Tensor) -> list[float]:
    """Per tag, the probability threshold that maximizes its F1 on these (validation) predictions; 0.5 without positives.

    Written here because neither torchmetrics nor scikit-learn picks a threshold: every distinct probability of
    the tag is tried as "predict positive at >= t" (sorted once, F1 from cumulative counts).
    """
    out = []
    for j in range(targets.shape[1]):
        present = ~torch.isnan(targets[:, j])
        p, t = probs[present, j].double(), targets[present, j]
        positives = int((t == 1).sum())
        if positives == 0 or len(t) == 0:
            out.append(0.5)
            continue
        order = torch.argsort(p, descending=True)
        p, t = p[order], (t[order] == 1).double()
        tp = torch.cumsum(t, 0)
        predicted = torch.arange(1, len(t) + 1, dtype=torch.float64)
        f1 = 2 * tp / (predicted + positives)
        # only cuts between distinct probabilities are thresholds a rule ">= t" can make
        last_of_value = torch.ones(len(p), dtype=torch.bool)
        last_of_value[:-1] = p[1:] != p[:-1]
        f1[~last_of_value] = -1.0
        out.append(float(p[int(f1.argmax())]))
    return out


def multilabel_metrics(probs: Tensor, targets: Tensor, names: Sequence[Any] | None = None,
                       thresholds: Sequence[float] | None = None) -> dict[str, Any]:
    """mAP, micro and macro F1, AUROC, subset accuracy and per-tag scores of (N, K) probabilities; NaN targets masked.

    Conventions (checked against scikit-learn in tests/test_metrics.py): F1 at `thresholds` (one per tag; 0.5
    when None), macro F1 the mean over all K tags with 0 for a tag with no true nor predicted positive
    (zero_division=0); mAP and AUROC the macro means over the tags whose present targets hold a positive (and,
    for AUROC, a negative), as scikit-learn's would be on those columns; subset accuracy over the samples with
    a present target, each right when every present tag is.
    """
    from torchmetrics.functional.classification import (multilabel_auroc, multilabel_average_precision,
                                                         multilabel_f1_score, multilabel_precision,
                                                         multilabel_recall)

    probs, targets = probs.double().view(len(probs), -1), targets.double().view(len(targets), -1)
    k = targets.shape[1]
    names = [str(c) for c in names] if names is not None else [str(i) for i in range(k)]
    thr = torch.tensor(list(thresholds) if thresholds is not None else [0.5] * k, dtype=torch.float64)
    present = ~torch.isnan(targets)
    # torchmetrics masks entries whose target is ignore_index; integer predictions are taken as decided labels
    target_int = torch.where(present, targets, torch.full_like(targets, -1)).long()
    preds = (probs >= thr).long()
    stat = {"num_labels": k, "ignore_index": -1, "validate_args": False}
    precision = multilabel_precision(preds, target_int, average="none", **stat)
    recall = multilabel_recall(preds, target_int, average="none", **stat)
    f1 = multilabel_f1_score(preds, target_int, average="none", **stat)
    pos = ((targets == 1) & present).sum(0)
    neg = ((targets == 0) & present).sum(0)
    ap = multilabel_average_precision(probs.float(), target_int, average="none", **stat)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(positive|negative) samples.*")
        auroc = multilabel_auroc(probs.float(), target_int, average="none", **stat)
    has_pos, has_both = pos > 0, (pos > 0) & (neg > 0)
    rows = present.any(1)
    right = ((preds == targets.long()) | ~present).all(1)
    per = {name: {"precision": precision[j].item(), "recall": recall[j].item(), "f1": f1[j].item(),
                  "ap": ap[j].item() if has_pos[j] else None, "support": int(pos[j]), "threshold": thr[j].item()}
           for j, name in enumerate(names)}
    return {
        "acc": right[rows].double().mean().item() if bool(rows.any()) else None,
        "map": ap[has_pos].mean().item() if bool(has_pos.any()) else None,
        "micro_f1": multilabel_f1_score(preds, target_int, average="micro", **stat).item(),
        "macro_f1": f1.mean().item(),
        "auroc": auroc[has_both].mean().item() if bool(has_both.any()) else None,
        "per_class": per,
        "thresholds": thr.tolist(),
        # the probabilities' spread over the samples, mean over tags (0: the same output for every input)
        "spread": probs[rows].std(0).mean().item() if int(rows.sum()) > 1 else None,
        "n": int(rows.sum()),
    }

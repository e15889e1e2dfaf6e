"""Scores of a checkpoint on a split, as its task scores them (objectives.py, metrics.py: the trainer's own functions,
so the numbers equal the run's test metrics on the same split):

classify:   loss, accuracy, balanced accuracy, macro F1, AUROC, per-class scores and the confusion matrix;
regress:    RMSE, MAE and R² per target and averaged, in the user's units;
multilabel: mAP, micro and macro F1, AUROC, subset accuracy and per-tag scores at the checkpoint's thresholds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from resnet_any.domains.checkpoint_info import CheckpointInfo
from resnet_any.domains.weights import load_checkpoint
from resnet_any.errors import UserError
from resnet_any.inference.checkpoint_data import check_data, checkpoint_data
from resnet_any.inference.confusion import confusion_matrix
from resnet_any.train.run.metrics import TASK_METRICS, classification_metrics
from resnet_any.train.run.objectives import make_objective
from resnet_any.train.plan import pick_device
from resnet_any.train.run.tasks import make_task, predict_split

SPLITS = ("train", "val", "test", "all")


def evaluate_checkpoint(checkpoint: str | Path, dataset: str | None = None, data_dir: str | None = None,
                        split: str | None = None, batch_size: int = 256, device: str = "auto",
                        model: Any = None, label_column: str | None = None, splits: Any = None,
                        keep_outputs: bool = False) -> dict[str, Any]:
    """Score a checkpoint on a split of its own dataset (or of --dataset) with its task's metrics.

    `split`: train, val, test or all; by default the test split of the run's own dataset, and every sample
    of another one (a holdout file is scored whole, not re-split). `model`: an instance of a model of your
    own (trained with fit) for its weights to load into. `label_column`: a series table's, if not the run's.
    `splits`: a DataSplits to score instead of reading files (resnet_any.data.python.as_splits of arrays, as
    `fit` takes them; its test split by default). `keep_outputs`: add "outputs" (decoded: probabilities,
    values in the user's units) and "targets" tensors, which evaluate's pictures draw.
    """
    if split is not None and split not in SPLITS:
        raise UserError(f"unknown --split {split!r}; valid: {', '.join(SPLITS)}", public=True)
    dev = pick_device(device)
    model, meta = load_checkpoint(checkpoint, dev, model=model)
    own = dataset is None and splits is None
    split = split or ("test" if own or splits is not None else "all")
    splits = checkpoint_data(checkpoint, meta, dataset, data_dir, label_column) if splits is None else \
        check_data(meta, splits)
    task = make_task(splits, dev, batch_size)
    parts = [name for name in ("train", "val", "test") if task.has(name) and task.size(name)] if split == "all" else [split]
    if not parts or not (task.has(parts[0]) and task.size(parts[0])):
        raise UserError(f"dataset {splits.name!r} has an empty {split} split",
                        public=f"the dataset has an empty {split} split")
    outputs = [predict_split(model, task, name) for name in parts]
    logits, targets = torch.cat([o[0] for o in outputs]), torch.cat([o[1] for o in outputs])
    warning = changed_data_warning(meta, splits) if own else None
    head = {"checkpoint": str(checkpoint), "dataset": splits.name, "split": split, "model": meta.model,
            "task": meta.task or "classify"}
    if head["task"] != "classify":
        result = {**head, **task_scores(meta, logits, targets, keep_outputs), **({"warning": warning} if warning else {})}
        return result
    k = meta.num_classes
    cm = confusion_matrix(logits, targets, k)
    support = cm.sum(1)
    per_class = {name: (cm[i, i].item() / support[i].item() if support[i] else None)
                 for i, name in enumerate(meta.class_names)}
    m = classification_metrics(logits, targets, meta.class_names)
    return {**head, "n": m["n"], "accuracy": m["acc"], "loss": m["loss"], "balanced_accuracy": m["balanced_accuracy"],
            "macro_f1": m["macro_f1"], "auroc": m["auroc"], "per_class_accuracy": per_class,
            "per_class": m["per_class"],
            "class_names": list(meta.class_names), "confusion_matrix": cm.tolist(),
            **({"warning": warning} if warning else {}),
            **({"outputs": logits.softmax(1), "targets": targets} if keep_outputs else {})}


def task_scores(meta: CheckpointInfo, logits: torch.Tensor, targets: torch.Tensor,
                keep_outputs: bool = False) -> dict[str, Any]:
    """A regress or multilabel checkpoint's scores of a split's raw outputs, as the trainer scores its test split."""
    task = meta.task
    objective = make_objective(task, meta.class_names, meta.data)
    thresholds = (meta.best or {}).get("thresholds") if task == "multilabel" else None
    m = objective.metrics(logits, targets, thresholds)
    out = {"n": m["n"], "loss": m["loss"], **{name: m[name] for name in TASK_METRICS[task]},
           "per_class": m["per_class"], "class_names": [str(c) for c in meta.class_names]}
    if task == "multilabel":
        out["accuracy"] = m["acc"]  # subset accuracy: every present tag of a sample right
        out["thresholds"] = m["thresholds"]
    if keep_outputs:
        out["outputs"], out["targets"] = objective.decode(logits), objective.targets(targets)
    return out


def changed_data_warning(meta: CheckpointInfo | Mapping[str, Any], splits: Any) -> str | None:
    """A warning when the run's own data no longer splits as training split it (the files changed), else None.

    A run that chose its epoch on training loss trained on train + val (the plan's splits.without_validation()),
    and recorded those sizes: the freshly read splits are merged the same way before they are compared.
    """
    from resnet_any.train.state import split_sizes

    meta = CheckpointInfo.of(meta)
    saved = meta.split_sizes
    if not saved:
        return None
    now = split_sizes(splits)
    cfg = meta.config or {}
    # older configs may lack select: a recorded empty validation split is the merge's trace
    merged = cfg["select"] == "train_loss" if cfg.get("select") else not saved.get("val")
    if merged:
        now = {"train": now["train"] + now["val"], "val": 0, "test": now["test"]}
    if now == saved:
        return None
    # this "test" split may hold samples the model trained on
    return (f"the data's splits hold {now['train']}/{now['val']}/{now['test']} samples, training's held "
            f"{saved['train']}/{saved['val']}/{saved['test']}: the files changed, so scores may include "
            "training samples")

"""The data a checkpoint is scored on: its run's own dataset or another of the same classes (targets, tags), read as
training read it and checked against the checkpoint: the same task, the same number of outputs, the same channels."""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any, Mapping

from resnet_any.domains.checkpoint_info import CheckpointInfo
from resnet_any.errors import UserError
from resnet_any.train.plan import SPLIT_SEED


def checkpoint_data(checkpoint: str | Path, meta: CheckpointInfo | Mapping[str, Any], dataset: str | None = None,
                    data_dir: str | None = None, label_column: str | None = None) -> Any:
    """The DataSplits a checkpoint is scored on: its run's own dataset (None) or `dataset`, read and prepared as
    training read them, checked against the model's classes and channels."""
    from resnet_any.data import load_dataset

    meta = CheckpointInfo.of(meta)
    cfg = meta.config
    if dataset is None:
        from resnet_any.data.python import IN_MEMORY

        if cfg["dataset"] == IN_MEMORY:
            raise UserError(f"{str(checkpoint)!r} was trained on data passed from Python (fit), which no file holds; "
                            "pass --dataset NAME or PATH to score it on files")
        dataset, data_dir = cfg["dataset"], data_dir if data_dir is not None else cfg.get("data_dir")
    size = (meta.data or {}).get("image_size")
    # a table's label column and an edge list's direction are read as in training
    readers = {k: cfg[k] for k in ("label_column", "directed") if cfg.get(k) is not None}
    if label_column is not None:
        readers["label_column"] = label_column
    # the labels read as training read them (a run told --task classify on numbers gets classes again)
    readers["task"] = meta.task or "classify"
    splits = load_dataset(meta.domain, dataset, data_dir, seed=SPLIT_SEED, val_fraction=cfg["val_fraction"],
                          image_size=size if meta.domain == "image" else None, cache_dir=cfg.get("cache_dir"),
                          **readers)
    return check_data(meta, splits)


WHAT = {"classify": "classes", "regress": "targets", "multilabel": "tags"}


def check_data(meta: CheckpointInfo | Mapping[str, Any], splits: Any) -> Any:
    """`splits` when the checkpoint can score them (task, outputs, tags, channels), else a UserError in one line."""
    meta = CheckpointInfo.of(meta)
    task, got = meta.task or "classify", getattr(splits, "task", "classify")
    if got != task:
        raise UserError(f"dataset {splits.name!r} holds {WHAT.get(got, got)} ({got}) but the checkpoint is {task}: "
                        f"it predicts {WHAT[task]} ({', '.join(map(str, meta.class_names[:5]))}"
                        f"{', ...' if len(meta.class_names) > 5 else ''})")
    if splits.num_classes != meta.num_classes:
        raise UserError(f"dataset {splits.name!r} has {splits.num_classes} {WHAT[task]} but the checkpoint predicts "
                        f"{meta.num_classes}")
    if task == "multilabel" and [str(c) for c in splits.class_names] != [str(c) for c in meta.class_names]:
        raise UserError(f"dataset {splits.name!r} has the tags {', '.join(map(str, splits.class_names))} but the "
                        f"checkpoint predicts {', '.join(map(str, meta.class_names))} (in this order)")
    if splits.in_channels != meta.model_kwargs.get("in_channels", splits.in_channels):
        raise UserError(f"dataset {splits.name!r} has {splits.in_channels} input channels but the checkpoint's model "
                        f"takes {meta.model_kwargs['in_channels']}")
    trained = (meta.data or {}).get("feature_norm")
    if splits.layout == "node" and trained not in (None, "none") and trained != (splits.meta or {}).get("feature_norm"):
        # the node features scaled as the training run scaled them (--feature-norm), with its statistics
        from resnet_any.data.graph_features import repeat_scaling

        graph = copy.copy(splits.graph)
        graph.x = repeat_scaling(graph.x, meta.data)
        splits = dataclasses.replace(splits, graph=graph, meta={**(splits.meta or {}), "feature_norm": trained})
    if splits.meta and meta.domain == "image":
        # normalise exactly as in training, whatever statistics the evaluated dataset would have
        splits.meta = {**splits.meta, **{k: v for k, v in (meta.data or {}).items() if k in ("mean", "std")}}
    return splits

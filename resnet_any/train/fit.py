"""`resnet_any.fit(model, train, val, test, **options)`: any model and any data through the one trainer."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Sequence

from torch import nn

from resnet_any.errors import UserError
from resnet_any.train.run.callbacks import Callback
from resnet_any.train.options import TrainConfig
from resnet_any.train.run.sinks import Sink


def fit(model: nn.Module | str | None, train: Any, val: Any = None, test: Any = None, *,
        out: str | Path | None = None, callbacks: Sequence[Callback] = (), sinks: Sequence[Sink] | None = None,
        stop: threading.Event | None = None, **options: Any) -> dict[str, Any]:
    """Train `model` on `train` (validating on `val`, testing on `test`) and return the summary (summary.json).

    Everything the CLI guarantees holds: checkpoints in `out`, resume (pass the same model again),
    kill-safety, AMP, DDP under torchrun, the sinks and cooperative `stop`.

    Args:
        model: any nn.Module (a registry model, a ResNet built from the core, your own), a registry name, or
            None for the recipe's model. It is called as the task calls registry models: model(x) for (x, y)
            batches, model(x, edge_index) per node, model(x, edge_index, batch) per graph.
        train: a tuple (X, y), a Dataset of (x, y) pairs, a list of PyG Data, one PyG Data with masks, a
            DataSplits, or a dataset name or path as `--dataset` takes (then alone: it holds its own splits).
        val: the same kinds as train; None carves a validation split from train.
        test: the same kinds as train; None leaves it out (the summary's test metrics are then None).
        out: the run folder (checkpoints, metrics.jsonl, summary.json); None: runs/<domain>-<time>.
        callbacks: per-epoch hooks (EarlyStopping, Pruning, your own Callback; one may shape parameter groups).
        sinks: where records go; None: the console (rank 0 only under torchrun).
        stop: an Event that ends the run after the current step (last.pt keeps the last finished epoch).
        **options: the keys of the config file and the CLI (epochs=5, lr=0.01, amp="bf16", resume=True, ...).

    Options left unset come from the recipe. Your own model gets the generic one of its task (AdamW at 1e-3,
    cosine), then the rules that derive how to train from the data as every run does (train/plan/derive.py:
    the batch from the training-set size, the epochs from a step budget, the epoch selection, class weights),
    never those that build or tune our models (width, the images' SGD learning rate, mixup). The run's note
    names the values derived; any option you set wins over them.
    """
    from resnet_any.errors import NotThisRank
    from resnet_any.train.plan import make_plan
    from resnet_any.train.run.sinks import Console
    from resnet_any.train.run.trainer import Trainer, is_main_process

    given = dict(options)
    if out is not None:
        given["out"] = str(out)
    if isinstance(model, str):
        given["model"] = model
        model = None
    elif model is not None and not isinstance(model, nn.Module):
        raise UserError(f"model must be an nn.Module, a registry name or None, got {type(model).__name__}")
    data = None
    if isinstance(train, (str, Path)):
        if val is not None or test is not None:
            raise UserError("a dataset name or path holds its own splits: pass it as train alone")
        given["dataset"] = str(train)
    elif train is not None:
        data = (train, val, test)  # made into DataSplits by the plan, once a resumed run's options are known
    config = TrainConfig.from_dict(given, source="fit")
    try:
        plan = make_plan(config, model=model, data=data, callbacks=callbacks)
    except NotThisRank:
        # under torchrun, full-batch node classification trains on rank 0 alone (it said so); the others
        # have nothing to return
        return {}
    if sinks is None:
        sinks = [Console(quiet=bool(plan.config.quiet))] if is_main_process() else []
    end = Trainer(plan, sinks=list(sinks), callbacks=callbacks).run_to_end(stop)
    return {k: v for k, v in end.items() if k != "type"}

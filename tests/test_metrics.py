"""Balanced accuracy, macro F1, AUROC and per-class scores (train/metrics.py) against scikit-learn's, and in a run."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from resnet_any.data import load_dataset
from resnet_any.evaluate import evaluate_checkpoint
from resnet_any.train import TrainConfig, Trainer, load_checkpoint
from resnet_any.train.run.callbacks import Callback
from resnet_any.train.run.metrics import classification_metrics, no_metrics
from resnet_any.train.plan import SPLIT_SEED
from resnet_any.train.run.selection import improves
from resnet_any.train.run.tasks import make_task, predict_split


def sklearn_metrics(logits: torch.Tensor, targets: torch.Tensor) -> dict:
    """The same metrics by scikit-learn, with the conventions metrics.py documents."""
    k = logits.shape[1]
    y, probs = targets.numpy(), logits.double().softmax(1).numpy()
    pred = probs.argmax(1)
    present = np.unique(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true": the case under test
        balanced = skm.balanced_accuracy_score(y, pred)
    if len(present) < 2:
        auroc = None
    elif k == 2:
        auroc = skm.roc_auc_score(y, probs[:, 1])
    elif len(present) == k:
        auroc = skm.roc_auc_score(y, probs, multi_class="ovr", average="macro")
    else:  # sklearn's multiclass AUROC refuses an absent class: one-vs-rest over the classes present
        auroc = float(np.mean([skm.roc_auc_score(y == c, probs[:, c]) for c in present]))
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=range(k), zero_division=0)
    return {"loss": skm.log_loss(y, probs, labels=range(k)), "acc": skm.accuracy_score(y, pred),
            "balanced_accuracy": balanced,
            "macro_f1": skm.f1_score(y, pred, labels=range(k), average="macro", zero_division=0),
            "auroc": auroc, "per_class": {str(i): {"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]}
                                          for i in range(k)}}


def random_predictions(n: int, k: int, seed: int, absent: tuple[int, ...] = (),
                       predicted: tuple[int, ...] = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits that agree with the targets more often than chance; `absent` classes never occur as targets,
    `predicted` ones of those are still predicted for a few samples."""
    g = torch.Generator().manual_seed(seed)
    keep = torch.tensor([c for c in range(k) if c not in absent])
    targets = keep[torch.randint(0, len(keep), (n,), generator=g)]
    logits = torch.randn(n, k, generator=g)
    logits[torch.arange(n), targets] += 1.0
    for c in absent:
        logits[:, c] -= 10.0
    for c in predicted:
        logits[:3, c] += 20.0
    return logits, targets


CASES = {
    "binary": random_predictions(300, 2, 0),
    "multiclass": random_predictions(300, 5, 1),
    # class 3 absent but predicted (recall undefined, precision 0), class 4 absent and never predicted
    "absent": random_predictions(300, 6, 2, absent=(3, 4), predicted=(3,)),
    "binary, one class predicted": (torch.tensor([[2.0, 0.0]] * 4 + [[1.0, 0.5]] * 3),
                                    torch.tensor([0, 1, 0, 1, 1, 0, 1])),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_metric_matches_sklearn(case: str) -> None:
    logits, targets = CASES[case]
    ours, ref = classification_metrics(logits, targets), sklearn_metrics(logits, targets)
    assert ours["n"] == len(targets)
    for key in ("loss", "acc", "balanced_accuracy", "macro_f1", "auroc"):
        assert ours[key] == pytest.approx(ref[key], abs=1e-5), key
    assert list(ours["per_class"]) == list(ref["per_class"])
    for name, scores in ref["per_class"].items():
        assert ours["per_class"][name] == pytest.approx(scores, abs=1e-6), name


def test_torchmetrics_own_macro_averages_differ_where_a_class_is_absent() -> None:
    # why metrics.py averages the per-class values itself: with an absent class torchmetrics' macro
    # recall counts it (sklearn's balanced accuracy does not) and its macro F1 drops it (sklearn's does not)
    from torchmetrics.functional.classification import multiclass_f1_score, multiclass_recall

    logits, targets = CASES["absent"]
    ours, pred = classification_metrics(logits, targets), logits.argmax(1)
    recall = multiclass_recall(pred, targets, num_classes=6, average="macro").item()
    f1 = multiclass_f1_score(pred, targets, num_classes=6, average="macro").item()
    assert recall != pytest.approx(ours["balanced_accuracy"]) and f1 != pytest.approx(ours["macro_f1"])


@pytest.mark.parametrize("k", [2, 4])
def test_auroc_is_none_where_undefined(k: int) -> None:
    logits = torch.randn(20, k, generator=torch.Generator().manual_seed(k))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either: a None says it
        one_class = classification_metrics(logits, torch.full((20,), 1))
    assert one_class["auroc"] is None and one_class["balanced_accuracy"] == one_class["per_class"]["1"]["recall"]
    logits[0, 0] = float("nan")
    assert classification_metrics(logits, torch.arange(20) % k)["auroc"] is None


def test_class_names_key_the_per_class_scores_and_no_metrics_is_all_none() -> None:
    logits, targets = CASES["binary"]
    assert list(classification_metrics(logits, targets, ["cat", 7])["per_class"]) == ["cat", "7"]
    assert set(no_metrics()) == {"loss", "acc", "balanced_accuracy", "macro_f1", "auroc", "per_class"}
    assert all(v is None for v in no_metrics().values())


def test_a_run_reports_them_and_selects_on_val_macro_f1(tmp_path: Path, one_thread) -> None:
    out = tmp_path / "run"
    # a rate this high barely learns: on this torch the second epoch has the better accuracy and the first the
    # better macro F1, so selecting on it is seen to matter (asserted below is only what holds on any platform)
    cfg = TrainConfig(domain="image", dataset="digits", width=4, epochs=2, batch_size=64, lr=2.0, schedule="none",
                      select="val_macro_f1", device="cpu", quiet=True, out=str(out))
    records = list(Trainer(cfg).run())
    end = records[-1]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r[f"val_{k}"] is not None for r in rows for k in ("balanced_accuracy", "macro_f1"))
    # an epoch's validation AUROC is scored only when --select watches it (trainer.evaluate); the test's always
    assert all(r["val_auroc"] is None for r in rows) and end["test_auroc"] is not None
    # the chosen epoch is the best of metrics.jsonl by val_macro_f1 (ties: the lower validation loss)
    best = None
    for r in rows:
        best = r if improves(r, best, "val_macro_f1") else best
    assert end["best_epoch"] == best["epoch"] and end["select"] == "val_macro_f1"
    assert best["val_macro_f1"] == max(r["val_macro_f1"] for r in rows)

    summary = json.loads((out / "summary.json").read_text())
    model, meta = load_checkpoint(out / "best.pt")
    assert meta["epoch"] == end["best_epoch"]
    splits = load_dataset("image", "digits", seed=SPLIT_SEED, val_fraction=meta["config"]["val_fraction"],
                          image_size=meta["data"].get("image_size"))
    logits, targets = predict_split(model, make_task(splits, torch.device("cpu"), 256), "test")
    ref = sklearn_metrics(logits, targets)
    for key in ("balanced_accuracy", "macro_f1", "auroc"):
        assert summary[f"test_{key}"] == pytest.approx(ref[key], abs=1e-5), key
    assert summary["test_accuracy"] == pytest.approx(ref["acc"], abs=1e-6)
    names = [str(c) for c in meta["class_names"]]
    assert list(summary["test_per_class"]) == names
    assert [summary["test_per_class"][n]["f1"] for n in names] == pytest.approx(
        [ref["per_class"][str(i)]["f1"] for i in range(len(names))], abs=1e-6)

    # evaluate reports the same numbers from the same checkpoint
    result = evaluate_checkpoint(out / "best.pt")
    for key in ("balanced_accuracy", "macro_f1", "auroc"):
        assert result[key] == pytest.approx(summary[f"test_{key}"], abs=1e-6), key
    assert result["per_class"] == summary["test_per_class"]

    # and TensorBoard got them per epoch and for the test split
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set(EventAccumulator(str(out)).Reload().Tags()["scalars"])
    assert {"macro_f1/val", "balanced_accuracy/val", "auroc/test", "macro_f1/test"} <= tags


class _WatchesAuroc(Callback):
    """A callback that reads val_auroc from the epoch records, as a sweep's pruner does (callbacks.Pruning)."""

    metric = "val_auroc"

    def __init__(self) -> None:
        self.seen: list = []

    def on_epoch_end(self, trainer, record) -> None:
        self.seen.append(record["val_auroc"])


@pytest.mark.parametrize("how", ["select", "callback"])
def test_an_epoch_scores_auroc_when_something_watches_it(tmp_path: Path, one_thread, how: str) -> None:
    """Per-epoch AUROC is skipped for speed only where nothing reads it: --select and callbacks get it."""
    cfg = TrainConfig(domain="image", dataset="digits", width=4, epochs=1, batch_size=64, device="cpu", quiet=True,
                      out=str(tmp_path / "run"), **({"select": "val_auroc"} if how == "select" else {}))
    watcher = _WatchesAuroc()
    end = Trainer(cfg, callbacks=[watcher] if how == "callback" else []).run_to_end()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["val_auroc"] is not None and 0.0 <= rows[0]["val_auroc"] <= 1.0
    assert end["test_auroc"] is not None
    if how == "callback":
        assert watcher.seen == [rows[0]["val_auroc"]]


@pytest.mark.parametrize("metric", ["val_macro_f1", "val_balanced_accuracy", "val_auroc"])
def test_a_sweep_may_rank_trials_by_them(tmp_path: Path, metric: str) -> None:
    from resnet_any.sweep import METRICS, load_sweep

    path = tmp_path / "sweep.yaml"
    path.write_text(f"base: {{domain: image}}\nmetric: {metric}\ngrid: {{lr: [0.1, 0.01]}}\n")
    assert load_sweep(path).metric == metric and METRICS[metric] == "max"

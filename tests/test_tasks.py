"""Targets beyond classes: the task table, the masked losses and metrics (against scikit-learn), whole runs on real
series (units, warnings, resume).

The series are GunPoint's (embedded, z-normalised per series). Targets computed from them, so a model can learn
them from the input: regression, each series' peak and trough (2 outputs, in z units); multi-label, two tags per
series: "gun" (GunPoint's own class) and "peaky" (its peak above the training split's median peak).
"""
from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import (average_precision_score, f1_score, mean_absolute_error, mean_squared_error, r2_score,
                             roc_auc_score)

import resnet_any
from resnet_any.data import load_dataset
from resnet_any.data.targets import encode, from_array, infer_task
from resnet_any.errors import UserError
from resnet_any.train.run.metrics import multilabel_metrics, regression_metrics
from resnet_any.train.run.objectives import make_objective

pytestmark = pytest.mark.usefixtures("one_thread")
FAST = dict(epochs=3, width=8, seed=0, device="cpu", quiet=True)


def gunpoint() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    s = load_dataset("series")
    return {split: (getattr(s, split).x, getattr(s, split).y) for split in ("train", "val", "test")}


def peaks(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x.amax(dim=(1, 2)), x.amin(dim=(1, 2))], 1)


def tags(x: torch.Tensor, cls: torch.Tensor, median: float) -> torch.Tensor:
    return torch.stack([(cls == 1).float(), (x.amax(dim=(1, 2)) > median).float()], 1)


# ---- the task table


@pytest.mark.parametrize("y, task, expected", [
    (np.array([0.5, 1.25, 3.0]), None, "regress"),
    (np.array([1, 2, 3]), None, "classify"),
    (np.array([1.0, 2.0, 3.0]), None, "classify"),          # integer-valued floats stay classes
    (np.array([[0, 1, 1], [1, 0, np.nan]]), None, "multilabel"),
    (np.array([[0.5, 2], [1, 3]]), None, "regress"),         # several numeric targets
    (np.array([1, 2, 3]), "regress", "regress"),             # the override
    (np.array([[0, 1], [1, 1]]), "regress", "regress"),
])
def test_arrays_infer_the_task_the_table_says(y: np.ndarray, task: str | None, expected: str) -> None:
    got, targets, _ = from_array(y, task)
    assert got == expected
    if expected != "classify":
        assert targets.shape == (len(y), 1 if y.ndim == 1 else y.shape[1]) and targets.dtype == torch.float32


@pytest.mark.parametrize("rows, columns, expected", [
    ([["cat;dog"], ["dog"], [""]], ["label"], "multilabel"),
    ([["1.5"], ["2"], [None]], ["label"], "regress"),
    ([["a"], ["b"]], ["label"], "classify"),
    ([["3"], ["4"]], ["label"], "classify"),
    ([["0", "1"], ["1", ""]], ["a", "b"], "multilabel"),
    ([["0.3", "1"], ["1", "7"]], ["a", "b"], "regress"),
])
def test_label_cells_infer_the_task_the_table_says(rows: list, columns: list, expected: str) -> None:
    task, note = infer_task(rows, columns)
    assert task == expected and (note is None) == (expected == "classify")
    assert infer_task(rows, columns, "classify") == ("classify", None)


def test_many_integer_labels_stay_classes_with_a_note_naming_regress() -> None:
    task, note = infer_task([[str(i % 60)] for i in range(140)], ["label"])
    assert task == "classify" and "--task regress" in note


def test_bad_targets_are_one_line_naming_the_place() -> None:
    def error(split: str, i: int, j: int, problem: str, expected: str) -> Exception:
        return UserError(f"{split} row {i} column {j}: {problem}")

    with pytest.raises(UserError, match="test row 1 column 0: tag 'bird' is not among"):
        encode({"train": [["cat;dog"]], "test": [["cat"], ["bird"]]}, ["label"], "multilabel", error)
    with pytest.raises(UserError, match="train row 1 column 0: target 'ten' is not a number"):
        encode({"train": [["1.5"], ["ten"]]}, ["label"], "regress", error)
    with pytest.raises(UserError, match="does not vary"):
        encode({"train": [["2.5"], ["2.5"], [""]]}, ["label"], "regress", error)
    with pytest.raises(UserError, match="holds 2"):
        from_array(np.array([[0, 2], [1, 0]]), "multilabel")
    got = encode({"train": [["cat;dog"], [""], [";"]]}, ["label"], "multilabel", error)
    assert got.names == ["cat", "dog"] and torch.equal(got.y["train"][2], torch.zeros(2))
    assert bool(torch.isnan(got.y["train"][1]).all())


# ---- losses and metrics: missing labels are masked, scores are scikit-learn's


def test_multilabel_metrics_equal_scikit_learn_on_the_present_labels() -> None:
    g = torch.Generator().manual_seed(1)
    y = (torch.rand(120, 4, generator=g) < 0.35).float()
    p = (0.5 * y + 0.6 * torch.rand(120, 4, generator=g)).clamp(0, 1)
    missing = torch.rand(120, 4, generator=g) < 0.15
    y_masked = y.masked_fill(missing, math.nan)
    thr = [0.4, 0.5, 0.6, 0.55]
    m = multilabel_metrics(p, y_masked, thresholds=thr)
    f1s, aps, aucs = [], [], []
    for j in range(4):
        keep = ~missing[:, j].numpy()
        t, s = y[:, j].numpy()[keep], p[:, j].numpy()[keep]
        f1s.append(f1_score(t, s >= thr[j], zero_division=0))
        aps.append(average_precision_score(t, s))
        aucs.append(roc_auc_score(t, s))
    assert m["macro_f1"] == pytest.approx(np.mean(f1s), abs=1e-6)
    assert m["map"] == pytest.approx(np.mean(aps), abs=1e-6)
    assert m["auroc"] == pytest.approx(np.mean(aucs), abs=1e-6)
    keep = ~missing.numpy()
    pred = (p.numpy() >= np.array(thr))
    assert m["micro_f1"] == pytest.approx(f1_score(y.numpy()[keep], pred[keep]), abs=1e-6)
    # rows without any present label add nothing
    more = multilabel_metrics(torch.cat([p, torch.rand(5, 4)]), torch.cat([y_masked, torch.full((5, 4), math.nan)]),
                              thresholds=thr)
    assert {k: more[k] for k in ("map", "micro_f1", "macro_f1", "auroc", "acc")} == \
        {k: m[k] for k in ("map", "micro_f1", "macro_f1", "auroc", "acc")}


def test_regression_metrics_equal_scikit_learn_per_target_on_the_present_values() -> None:
    g = torch.Generator().manual_seed(2)
    t = torch.randn(80, 2, generator=g) * torch.tensor([1.0, 50.0]) + torch.tensor([0.0, 300.0])
    v = t + torch.randn(80, 2, generator=g) * torch.tensor([0.5, 20.0])
    t_masked = t.clone()
    t_masked[::7, 1] = math.nan
    m = regression_metrics(v, t_masked, ["a", "b"])
    keep = ~torch.isnan(t_masked[:, 1]).numpy()
    rmse_b = mean_squared_error(t[:, 1].numpy()[keep], v[:, 1].numpy()[keep]) ** 0.5
    assert m["per_class"]["b"]["rmse"] == pytest.approx(rmse_b, rel=1e-5)
    assert m["per_class"]["b"]["n"] == int(keep.sum())
    assert m["rmse"] == pytest.approx((mean_squared_error(t[:, 0], v[:, 0]) ** 0.5 + rmse_b) / 2, rel=1e-5)
    assert m["mae"] == pytest.approx((mean_absolute_error(t[:, 0], v[:, 0])
                                      + mean_absolute_error(t[:, 1].numpy()[keep], v[:, 1].numpy()[keep])) / 2, rel=1e-5)
    assert m["r2"] == pytest.approx((r2_score(t[:, 0], v[:, 0]) + r2_score(t[:, 1].numpy()[keep], v[:, 1].numpy()[keep]))
                                    / 2, rel=1e-5)


def test_collapsed_outputs_are_said_whatever_the_r2() -> None:
    from resnet_any.train.run.health import Health

    t = torch.linspace(0, 10, 50)[:, None]
    collapsed = regression_metrics(torch.full_like(t, 5.0), t)
    assert collapsed["spread"] == 0.0 and regression_metrics(t * 2, t)["spread"] == pytest.approx(2.0)
    health = Health(1, [], None, "regress")
    health.observe({"train_loss": 1.0, "val_r2": 0.2})
    assert any("collapsed" in w for w in health.verdict(test=collapsed))
    assert not health.verdict(test=regression_metrics(t + 0.1, t))


def test_missing_targets_change_nothing_in_the_losses() -> None:
    g = torch.Generator().manual_seed(3)
    out, y = torch.randn(10, 3, generator=g), torch.randn(10, 3, generator=g) * 4 + 2
    mask = torch.rand(10, 3, generator=g) < 0.3
    reg = make_objective("regress", ["a", "b", "c"], {"target_mean": [2.0] * 3, "target_std": [4.0] * 3})
    z = (y - 2.0) / 4.0
    assert reg.loss(out, y.masked_fill(mask, math.nan)).item() == pytest.approx(
        ((out - z)[~mask] ** 2).mean().item(), rel=1e-6)
    yt = (y > 2).float()
    ml = make_objective("multilabel", ["a", "b", "c"])
    by_hand = torch.nn.functional.binary_cross_entropy_with_logits(out[~mask], yt[~mask])
    assert ml.loss(out, yt.masked_fill(mask, math.nan)).item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert reg.decode(torch.zeros(1, 3)).tolist() == [[2.0, 2.0, 2.0]]  # standard units back to the user's
    huber = make_objective("regress", ["a", "b", "c"], {"target_mean": [2.0] * 3, "target_std": [4.0] * 3}, loss="huber")
    d = (out - z).abs()
    assert huber.loss(out, y).item() == pytest.approx(torch.where(d < 1, 0.5 * d**2, d - 0.5).mean().item(), rel=1e-6)


def test_a_task_a_built_in_class_set_cannot_have_is_one_line_exit_2() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "resnet_any.train", "--domain", "series", "--task", "regress",
                           "--epochs", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "--task regress" in proc.stderr and "built-in classification set" in proc.stderr


# ---- whole runs on real series


def _scores_of_best(out: Path, x: torch.Tensor) -> torch.Tensor:
    from resnet_any.domains.weights import load_checkpoint

    model, meta = load_checkpoint(out / "best.pt")
    objective = make_objective(meta.task, meta.class_names, meta.data)
    with torch.no_grad():
        return objective.decode(model.eval()(x.float()))


def test_a_regression_reports_the_users_units_and_warns_only_when_it_learns_nothing(tmp_path: Path) -> None:
    d = gunpoint()
    (xtr, _), (xva, _), (xte, _) = d["train"], d["val"], d["test"]
    scale = torch.tensor([100.0, 1.0])  # the first target in other units: standardization must undo it
    train, val, test = ((x, peaks(x) * scale) for x in (xtr, xva, xte))
    s = resnet_any.fit(None, train, val, test, out=tmp_path / "ok", select="val", **{**FAST, "epochs": 12})
    assert s["task"] == "regress" and s["test_accuracy"] is None and not s["warnings"]
    assert s["test_r2"] > 0.3, s
    values = _scores_of_best(tmp_path / "ok", xte).numpy()
    truth = (peaks(xte) * scale).numpy()
    per = [mean_squared_error(truth[:, j], values[:, j]) ** 0.5 for j in range(2)]
    assert s["test_per_class"]["target_0"]["rmse"] == pytest.approx(per[0], rel=1e-4)
    assert s["test_rmse"] == pytest.approx(np.mean(per), rel=1e-4)
    meta = json.loads((tmp_path / "ok" / "summary.json").read_text())
    assert meta["test_rmse"] == pytest.approx(s["test_rmse"])
    # the same series with their targets shuffled among them: nothing to learn, and the run says so
    shuffled = (xtr, train[1][torch.randperm(len(xtr), generator=torch.Generator().manual_seed(0))])
    bad = resnet_any.fit(None, shuffled, (xva, val[1][torch.randperm(len(xva))]), test, out=tmp_path / "bad",
                         select="val", **FAST)
    assert any("R²" in w and "training mean" in w for w in bad["warnings"]), bad["warnings"]


def test_multilabel_runs_choose_thresholds_on_validation_and_score_as_scikit_learn(tmp_path: Path) -> None:
    d = gunpoint()
    median = float(d["train"][0].amax(dim=(1, 2)).median())
    train, val, test = ((x, tags(x, c, median)) for x, c in (d["train"], d["val"], d["test"]))
    s = resnet_any.fit(None, train, val, test, out=tmp_path / "ml", select="val", **{**FAST, "epochs": 10})
    assert s["task"] == "multilabel" and len(s["thresholds"]) == 2 and not s["warnings"], s
    probs = _scores_of_best(tmp_path / "ml", test[0]).numpy()
    truth = test[1].numpy()
    assert s["test_map"] == pytest.approx(average_precision_score(truth, probs, average="macro"), abs=1e-5)
    pred = probs >= np.array(s["thresholds"])
    assert s["test_macro_f1"] == pytest.approx(f1_score(truth, pred, average="macro", zero_division=0), abs=1e-5)
    assert s["test_map"] > 0.8


@pytest.mark.parametrize("task", ["regress", "multilabel"])
def test_resume_is_exact_for_the_new_tasks(tmp_path: Path, task: str) -> None:
    d = gunpoint()
    median = float(d["train"][0].amax(dim=(1, 2)).median())
    make = (lambda x, c: peaks(x)) if task == "regress" else (lambda x, c: tags(x, c, median))
    data = [(x, make(x, c)) for x, c in (d["train"], d["val"], d["test"])]
    if task == "regress":
        data[1] = None  # a validation split carved from train, which the derived recipe may merge back
    # regress: the derived select train_loss merges validation, so the target scaling must be taken after it
    options = {**FAST, "epochs": 2, "drop_path": 0.1, **({"select": "val"} if task == "multilabel" else {})}
    full = resnet_any.fit(None, *data, out=tmp_path / "full", **options)
    stop = threading.Event()

    class StopAfterOne(resnet_any.train.Callback):
        def on_epoch_end(self, run, record) -> None:
            stop.set()

    resnet_any.fit(None, *data, out=tmp_path / "part", stop=stop, callbacks=[StopAfterOne()], **options)
    resumed = resnet_any.fit(None, *data, out=tmp_path / "part", resume=True, **options)
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "part" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    key = "test_rmse" if task == "regress" else "test_map"
    assert resumed[key] == full[key]
    if task == "regress":
        assert full["select"] == "train_loss"
        data = [torch.load(tmp_path / r / "last.pt", weights_only=True)["data"] for r in ("full", "part")]
        assert data[0]["target_mean"] == data[1]["target_mean"] and data[0]["target_std"] == data[1]["target_std"]


def test_tags_no_better_than_their_prevalence_are_said_without_a_validation_split(tmp_path: Path) -> None:
    d = gunpoint()
    g = torch.Generator().manual_seed(0)
    noise = [(x, (torch.rand(len(x), 3, generator=g) < 0.3).float()) for x, _ in (d["train"], d["test"])]
    s = resnet_any.fit(None, noise[0], None, noise[1], out=tmp_path / "noise", **FAST)
    assert s["select"] == "train_loss" and s["task"] == "multilabel"
    assert any("prevalence" in w for w in s["warnings"]), s

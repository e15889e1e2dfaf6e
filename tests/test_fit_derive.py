"""fit with a user's own model: the derived rules on how to train (batch, epochs, selection) apply, and say so."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

import resnet_any
from resnet_any.data import load_dataset
from resnet_any.train.options import TrainConfig
from resnet_any.train.plan import make_plan


def _series_net() -> nn.Module:
    """A user's own small series model: no registry name, no resnet_any parts."""
    return nn.Sequential(nn.Conv1d(1, 8, 7, padding=3), nn.BatchNorm1d(8), nn.ReLU(), nn.AdaptiveAvgPool1d(1),
                         nn.Flatten(), nn.Linear(8, 2))


def _gunpoint() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """GunPoint's 50 training series (the embedded default's train + val) and its 150 test series."""
    s = load_dataset("series", "GunPoint")
    return (torch.cat([s.train.x, s.val.x]), torch.cat([s.train.y, s.val.y])), (s.test.x, s.test.y)


def _derived_note(notes: list[str] | tuple[str, ...]) -> str:
    return next(n for n in notes if n.startswith("recipe derived from the data"))


def test_own_model_on_gunpoint_trains_with_the_derived_batch_and_the_note_names_it(tmp_path: Path,
                                                                                   one_thread: None) -> None:
    train, test = _gunpoint()
    torch.manual_seed(0)
    summary = resnet_any.fit(_series_net(), train, test=test, out=tmp_path / "run", epochs=3, seed=0, quiet=True)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    # 10 carved validation series (5 a class, under 50) join training: Fawaz et al.'s n/10 of 50 series is 5
    assert config["batch_size"] == 5 and config["select"] == "train_loss" and summary["select"] == "train_loss"
    assert config["epochs"] == 3 and config["lr"] == 1e-3 and config["optimizer"] == "adamw"  # yours / generic
    note = _derived_note(summary["notes"])
    assert "batch-size 5" in note and "select train_loss" in note and "50 training samples, 2 classes" in note
    assert "epochs" not in note  # the user's epochs=3 won
    generic = next(n for n in summary["notes"] if n.startswith("your model trains with the generic recipe"))
    assert "batch_size" not in generic and "lr 0.001" in generic  # each value said once, by what set it
    assert summary["test_accuracy"] is not None

    # the user's batch size wins; the epochs then follow from it
    mine = resnet_any.fit(_series_net(), train, test=test, out=tmp_path / "mine", epochs=1, batch_size=8, seed=0,
                          quiet=True)
    assert json.loads((tmp_path / "mine" / "config.json").read_text())["batch_size"] == 8
    assert "batch-size" not in _derived_note(mine["notes"])


def test_own_model_epochs_follow_the_step_budget_and_validation_handed_over_is_kept(tmp_path: Path) -> None:
    train, test = _gunpoint()
    plan = make_plan(TrainConfig(out=str(tmp_path / "a")), model=_series_net(), data=(train, None, test))
    # 8,000 steps at 10 steps an epoch (50 series, batch 5), within [30, 200]
    assert plan.config.epochs == 200 and plan.epoch_budget is None
    assert "epochs 200" in _derived_note(plan.notes)
    eight = make_plan(TrainConfig(batch_size=8, out=str(tmp_path / "b")), model=_series_net(), data=(train, None, test))
    assert eight.config.batch_size == 8 and eight.config.epochs == 200  # 7 steps an epoch: 1,143 epochs, capped
    # a validation split handed over is never merged: selection on it, and the batch from the 40 training series
    val = (train[0][40:], train[1][40:])
    kept = make_plan(TrainConfig(out=str(tmp_path / "c")), model=_series_net(),
                     data=((train[0][:40], train[1][:40]), val, test))
    assert kept.config.select == "val" and kept.config.batch_size == 4 and len(kept.splits.val) == 10


def test_own_model_takes_no_architecture_and_no_recipe_tuned_value(tmp_path: Path) -> None:
    """Images: a registry resnet18 gets width 16, SGD's scaled lr and mixup; a user's model only batch and epochs."""
    d = load_digits()
    x, y = (d.images / 16.0).astype(np.float32)[:, None][:360], d.target[:360] % 3
    data = ((x[:300], y[:300]), None, (x[300:], y[300:]))
    own = make_plan(TrainConfig(out=str(tmp_path / "own")),
                    model=nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), data=data)
    ours = make_plan(TrainConfig(model="resnet18", out=str(tmp_path / "ours")), data=data)
    assert own.config.batch_size == ours.config.batch_size == 16  # at least ~30 steps an epoch, within [16, 128]
    assert own.config.epochs == ours.config.epochs and own.config.select == ours.config.select == "train_loss"
    assert ours.config.lr == 0.0125 and ours.config.mixup == 0.2 and ours.config.model_kwargs["width"] == 16
    assert own.config.lr == 1e-3 and own.config.optimizer == "adamw" and own.config.mixup == 0.0
    assert own.config.model_kwargs == {}
    note = _derived_note(own.notes)
    assert "batch-size 16" in note and "lr" not in note and "width" not in note and "mixup" not in note

"""`select: train_loss`: no held-out split, training on train + val, the epoch kept by lowest training loss."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resnet_any.data import DataSplits, load_dataset
from resnet_any.data.splits import ArrayDataset
from resnet_any.errors import UserError
from resnet_any.train import TrainConfig, Trainer
from resnet_any.train.options import SELECTS

REPO = Path(__file__).resolve().parents[1]


def test_series_trains_on_every_official_train_series_and_keeps_the_lowest_train_loss(tmp_path, one_thread):
    # GunPoint ships 50 train series; a 0.1 validation split would hold 5 of them out
    cfg = TrainConfig(domain="series", dataset="GunPoint", width=4, epochs=5, batch_size=5, lr=1e-2, val_fraction=0.1,
                      select="train_loss", schedule="plateau", patience=0, gamma=0.5, device="cpu", quiet=True,
                      out=str(tmp_path / "run"))
    records = list(Trainer(cfg).run())
    start, end = records[0], records[-1]
    epochs = [r for r in records if r["type"] == "epoch"]
    assert start["samples"] == {"train": 50, "val": 0, "test": 150} and start["steps_per_epoch"] == 10
    assert all(r["val_loss"] is None and r["val_acc"] is None for r in epochs)
    losses = [r["train_loss"] for r in epochs]
    assert end["best_epoch"] == 1 + losses.index(min(losses)) and end["best_train_loss"] == min(losses)
    assert end["best_val_acc"] is None and end["select"] == "train_loss" and 0 <= end["test_accuracy"] <= 1
    # the plateau schedule follows the training loss: with patience 0 the rate halves after every epoch
    # that does not lower the best training loss so far (torch's default threshold: 1e-4 relative)
    lr, best, expected = 1e-2, math.inf, []
    for loss in losses:
        if loss < best * (1 - 1e-4):
            best = loss
        else:
            lr /= 2
        expected.append(lr)
    assert [r["lr"] for r in epochs] == pytest.approx(expected)
    from resnet_any.train.run.sinks import format_epoch

    assert format_epoch(epochs[0], 5).startswith("epoch 1/5  train_loss ") and "val_" not in format_epoch(epochs[0], 5)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["val_loss"] for r in rows] == [None] * 5
    assert (tmp_path / "run" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_node_task_trains_on_the_train_and_val_masks(tmp_path, one_thread):
    cfg = TrainConfig(domain="graph", dataset="cora", epochs=3, select="train_loss", device="cpu", quiet=True,
                      out=str(tmp_path / "run"))
    trainer = Trainer(cfg)
    # Planetoid's public split: 140 training and 500 validation nodes
    assert trainer.task.size("train") == 640 and trainer.task.size("val") == 0
    end = list(trainer.run())[-1]
    assert end["best_epoch"] in (1, 2, 3) and end["test_accuracy"] is not None


def test_without_validation_concatenates_train_then_val():
    x = torch.arange(10.0).view(5, 1, 2)
    splits = DataSplits("toy", "series", "samples", ArrayDataset(x[:3], torch.tensor([0, 1, 0])),
                        ArrayDataset(x[3:], torch.tensor([1, 1])), ArrayDataset(x[:1], torch.tensor([0])), 2,
                        ["a", "b"], 1)
    merged = splits.without_validation()
    assert torch.equal(merged.train.x, x) and merged.train.y.tolist() == [0, 1, 0, 1, 1] and merged.val is None
    assert len(splits.val) == 2  # the original is untouched
    graphs = DataSplits("g", "graph", "graph", ["g0", "g1"], ["g2"], ["g3"], 2, ["a", "b"], 1).without_validation()
    assert graphs.train == ["g0", "g1", "g2"] and graphs.val is None


def test_cora_split_masks_merge_without_overlap():
    splits = load_dataset("graph", "cora").without_validation()
    g = splits.graph
    assert int(g.train_mask.sum()) == 640 and int(g.val_mask.sum()) == 0 and not bool((g.train_mask & g.test_mask).any())


def test_bad_select_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "resnet_any.train", "--domain", "series", "--select", "loss",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "error: unknown --select 'loss'; valid: " + ", ".join(SELECTS)
    assert not (tmp_path / "run").exists()


def test_sweep_refuses_a_validation_metric_without_validation(tmp_path):
    from resnet_any.sweep import load_sweep

    path = tmp_path / "sweep.yaml"
    path.write_text("base: {domain: series, select: train_loss}\ngrid: {lr: [0.1, 0.01]}\n")
    with pytest.raises(UserError, match="metric 'val_acc' needs a validation split"):
        load_sweep(path)
    path.write_text("base: {domain: series, select: train_loss}\nmetric: train_loss\ngrid: {lr: [0.1, 0.01]}\n")
    assert load_sweep(path).metric == "train_loss"

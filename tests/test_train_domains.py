"""Each domain trains on tiny real data through the one trainer and writes every output of issue 3 §3."""
from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import torch

from resnet_any.train import TrainConfig, Trainer, load_checkpoint, train

METRIC_KEYS = {"epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "samples_per_s"}
SUMMARY_KEYS = {"best_epoch", "test_accuracy", "test_loss", "parameters", "wall_seconds", "dataset", "model"}


def check_run(out: Path, epochs: int) -> dict:
    """Every file a run must write exists and holds what issue 3 lists; returns summary.json."""
    for name in ("config.json", "metrics.jsonl", "summary.json", "last.pt", "best.pt", "curves.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert list(out.glob("events.out.tfevents.*")), "no TensorBoard event file"
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((out / "config.json").read_text())
    for key in ("epochs", "lr", "batch_size", "optimizer", "schedule", "model", "dataset", "seed"):
        assert config[key] is not None, f"config.json leaves {key} unresolved"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, epochs + 1))
    for r in rows:
        assert set(r) >= METRIC_KEYS
        # select train_loss (derived for tiny sets) holds no validation split: its val_* are None
        assert 0 <= r["train_acc"] <= 1 and (config["select"] == "train_loss" or 0 <= r["val_acc"] <= 1)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= SUMMARY_KEYS
    assert 0 <= summary["test_accuracy"] <= 1
    assert 1 <= summary["best_epoch"] <= epochs
    # best.pt is the epoch with the best validation accuracy (lowest training loss under select train_loss)
    key, best = ("train_loss", min) if config["select"] == "train_loss" else ("val_acc", max)
    assert rows[summary["best_epoch"] - 1][key] == best(r[key] for r in rows)
    model, meta = load_checkpoint(out / "best.pt")
    assert meta["epoch"] == summary["best_epoch"]
    assert sum(p.numel() for p in model.parameters()) == summary["parameters"]
    assert len(meta["class_names"]) == meta["num_classes"]
    return summary


def test_image_digits_learns_and_writes_everything(tmp_path: Path) -> None:
    records = list(Trainer(TrainConfig(domain="image", width=8, epochs=2, out=str(tmp_path / "run"))).run())
    kinds = [r["type"] for r in records]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == 2
    start, end = records[0], records[-1]
    assert start["class_names"] == [str(i) for i in range(10)] and start["num_classes"] == 10
    assert start["steps_per_epoch"] > 0 and start["parameters"] > 0
    steps = [r for r in records if r["type"] == "step"]
    assert steps and {"epoch", "step", "steps_per_epoch", "loss", "samples_per_s", "eta_s"} <= set(steps[0])
    summary = check_run(tmp_path / "run", 2)
    assert {k: v for k, v in end.items() if k != "type"} == summary
    assert end["stopped"] is False
    # 10 classes: chance is 0.1; two epochs of a width-8 ResNet-18 already get well past it
    assert summary["test_accuracy"] > 0.5
    assert summary["dataset"] == "digits" and summary["model"] == "resnet18"


def test_series_gunpoint(tmp_path: Path) -> None:
    summary = train(TrainConfig(domain="series", width=16, epochs=20, lr=0.01, out=str(tmp_path / "run"), quiet=True))
    check_run(tmp_path / "run", 20)
    assert summary["dataset"].lower() == "gunpoint" and summary["model"] == "series_resnet"
    assert summary["test_accuracy"] > 0.6  # two balanced classes: chance is 0.5


def test_graph_cora_node_classification(tmp_path: Path) -> None:
    summary = train(TrainConfig(domain="graph", epochs=30, out=str(tmp_path / "run"),
                                cache_dir=str(tmp_path / "cache")))
    check_run(tmp_path / "run", 30)
    assert summary["dataset"].lower() == "cora"
    # 7 classes, majority class about 0.3 of the test nodes
    assert summary["test_accuracy"] > 0.6


def test_graph_mutag_graph_classification(tmp_path: Path, shared_data: Path) -> None:
    root = tmp_path / "TUDataset"
    shutil.copytree(shared_data / "TUDataset" / "MUTAG", root / "MUTAG")  # PyG writes processed/ beside raw/
    summary = train(TrainConfig(domain="graph", dataset="MUTAG", data_dir=str(root), width=16, epochs=3,
                                out=str(tmp_path / "run")))
    check_run(tmp_path / "run", 3)
    assert summary["dataset"].lower() == "mutag"


def test_cooperative_stop_keeps_last_finished_epoch(tmp_path: Path, one_thread: None) -> None:
    # one thread: two threads on two cores shared with another job thrash and blow the 2 s bound (seen at 3.3 s)
    stop = threading.Event()
    out = tmp_path / "run"
    trainer = Trainer(TrainConfig(domain="image", width=8, epochs=5, out=str(out)))
    records = []
    stopped_at = None
    for rec in trainer.run(stop):
        records.append(rec)
        if rec["type"] == "step" and rec["epoch"] == 2 and stopped_at is None:
            stop.set()
            stopped_at = time.monotonic()
    end = records[-1]
    assert end["type"] == "end" and end["stopped"] is True
    assert time.monotonic() - stopped_at < 2.0
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1
    rows = (out / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 1 and end["epochs"] == 1
    assert end["test_accuracy"] is not None  # scored from best.pt of epoch 1

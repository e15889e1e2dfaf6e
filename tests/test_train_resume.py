"""--resume: an interrupted run continued from last.pt ends with the same weights as an uninterrupted one (CPU)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from resnet_any.errors import UserError
from resnet_any.train import TrainConfig, Trainer, train

REPO = Path(__file__).resolve().parents[1]
# dropout-free but augmentation-free digits would not exercise the RNG; drop_path draws from it every step
CONFIG = dict(domain="image", width=8, epochs=2, seed=3, drop_path=0.1, lr=0.02, device="cpu")


# one intra-op thread in this process too (the fixture is in conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_resume_reaches_the_same_weights_and_metrics_once(tmp_path: Path) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    train(TrainConfig(out=str(full), **CONFIG))

    stop = threading.Event()
    for rec in Trainer(TrainConfig(out=str(part), **CONFIG)).run(stop):
        if rec["type"] == "epoch":
            stop.set()  # interrupted after epoch 1 of 2
    assert torch.load(part / "last.pt", weights_only=True)["epoch"] == 1
    # as if killed after appending epoch 2's row but before its checkpoint landed
    with open(part / "metrics.jsonl", "a") as f:
        f.write(json.dumps({**rows(part)[0], "epoch": 2, "val_acc": -1}) + "\n")

    # continue through the CLI, as a user would
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "resnet_any.train", "--resume", "--out", str(part), "--quiet"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr

    a, b = weights(full / "last.pt"), weights(part / "last.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [r["epoch"] for r in rows(part)] == [1, 2]
    for ra, rb in zip(rows(full), rows(part)):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
            assert ra[key] == rb[key], key
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (full, part))
    assert sa["test_accuracy"] == sb["test_accuracy"] and sa["best_epoch"] == sb["best_epoch"]


def test_resume_refuses_changes_that_would_alter_the_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(TrainConfig(out=str(out), **{**CONFIG, "epochs": 1}))
    with pytest.raises(UserError, match="--lr cannot change on --resume"):
        Trainer(TrainConfig(out=str(out), resume=True, lr=0.5))
    # more epochs is allowed: it extends the run
    summary = train(TrainConfig(out=str(out), resume=True, epochs=2))
    assert summary["epochs"] == 2 and [r["epoch"] for r in rows(out)] == [1, 2]


def test_resume_without_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no checkpoint"):
        Trainer(TrainConfig(out=str(tmp_path), resume=True))
    with pytest.raises(UserError, match="needs --out"):
        Trainer(TrainConfig(domain="image", resume=True))


def test_sigint_stops_after_the_step_and_keeps_finished_epochs(tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "resnet_any.train", "--domain", "image", "--width", "8",
                             "--epochs", "50", "--out", str(out)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while not (metrics.is_file() and metrics.stat().st_size) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert "Traceback" not in err and f"--resume --out {out}" in err
    epoch = torch.load(out / "last.pt", weights_only=True)["epoch"]
    assert 1 <= epoch < 50 and [r["epoch"] for r in rows(out)] == list(range(1, epoch + 1))
    assert json.loads((out / "summary.json").read_text())["stopped"] is True

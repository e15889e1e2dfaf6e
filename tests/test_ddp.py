"""DistributedDataParallel on CPU: 2 gloo processes under torchrun match one process with the same global batch."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resnet_any.errors import UserError
from resnet_any.train import TrainConfig, load_checkpoint, train
from resnet_any.train.cli import main as cli_main

REPO = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "resnet_any.train"]
# Gradients are averaged over ranks in another summation order than one process's batch mean: float32
# rounding (~1e-7 relative) over a few SGD steps stays far below this.
WEIGHT_TOL = 1e-5


# one intra-op thread in this process too (the fixture is in conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def _torchrun(args: list[str]) -> subprocess.CompletedProcess:
    # one thread per rank: 2 ranks on 2 cores; torchrun would set it anyway, with a warning
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(TORCHRUN + args, capture_output=True, text=True, env=env, timeout=240, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def test_two_processes_reach_one_process_weights(tmp_path: Path, shared_data: Path) -> None:
    """Graph batches (MUTAG) under DDP: same weights after one epoch of SGD steps as one process, global batch 32.

    The model has no BatchNorm (norm none, no dropout): per-rank BatchNorm statistics over 16 graphs are
    not those over 32, so a BN model legitimately differs without --sync-bn, which needs GPUs.
    """
    data = tmp_path / "TUDataset"
    shutil.copytree(shared_data / "TUDataset" / "MUTAG", data / "MUTAG")  # PyG writes processed/ beside raw/
    opts = dict(domain="graph", dataset="MUTAG", data_dir=str(data), cache_dir=str(tmp_path / "cache"), epochs=1,
                batch_size=32, optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-4, schedule="none",
                model_kwargs={"hidden_channels": 16, "depth": 2, "norm": "none", "dropout": 0.0}, device="cpu",
                quiet=True)
    one = train(TrainConfig(**opts, out=str(tmp_path / "one")))
    assert one["epochs"] == 1
    args = [f"--{k.replace('_', '-')}={json.dumps(v) if isinstance(v, dict) else v}" for k, v in opts.items()
            if not isinstance(v, bool)]
    _torchrun(args + ["--quiet", "--out", str(tmp_path / "two")])
    a = torch.load(tmp_path / "one" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "two" / "last.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and not any(k.startswith("module.") for k in b)
    diff = max((a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].is_floating_point())
    assert diff <= WEIGHT_TOL, diff
    rows = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert rows[0][key] == pytest.approx(ref[0][key], abs=1e-4), key


def _layout(out: Path) -> list[str]:
    # TensorBoard names its file after host and pid; everything else is named exactly
    return sorted("events.out.tfevents" if p.name.startswith("events.out.tfevents") else p.name for p in out.iterdir())


def test_torchrun_writes_the_files_of_a_one_process_run(tmp_path: Path) -> None:
    """2 ranks on digits: one set of run files from rank 0, each epoch once, a checkpoint one process loads."""
    args = ["--domain", "image", "--width", "4", "--epochs", "2", "--batch-size", "64", "--device", "cpu", "--quiet"]
    assert cli_main(args + ["--out", str(tmp_path / "one")]) == 0
    proc = _torchrun(args + ["--out", str(tmp_path / "two")])
    one, two = tmp_path / "one", tmp_path / "two"
    assert _layout(two) == _layout(one)
    assert {"config.json", "metrics.jsonl", "summary.json", "last.pt", "best.pt", "curves.png"} <= set(_layout(two))
    rows = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(r["val_macro_f1"] is not None for r in rows)  # every rank scores the whole split (trainer.evaluate)
    assert proc.stdout.count("done:") == 1  # only rank 0 prints
    cfg1, cfg2 = (json.loads((d / "config.json").read_text()) for d in (one, two))
    assert {k: v for k, v in cfg1.items() if k != "out"} == {k: v for k, v in cfg2.items() if k != "out"}
    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (one, two))
    assert s1.keys() == s2.keys() and s2["epochs"] == 2 and s2["test_accuracy"] is not None
    assert s2["test_macro_f1"] is not None and len(s2["test_per_class"]) == 10
    for name in ("last.pt", "best.pt"):
        model, ckpt = load_checkpoint(two / name)
        assert ckpt["epoch"] in (1, 2) and not any(k.startswith("module.") for k in model.state_dict())


@pytest.fixture
def rank_env(monkeypatch: pytest.MonkeyPatch):
    """Pretend to be one rank of a 2-process torchrun job (checks that fail before joining a group)."""
    def set_rank(rank: int) -> None:
        for k, v in {"RANK": rank, "LOCAL_RANK": rank, "WORLD_SIZE": 2}.items():
            monkeypatch.setenv(k, str(v))
    return set_rank


def test_global_batch_must_divide_and_sync_bn_needs_gpus(rank_env, tmp_path: Path) -> None:
    """--batch-size is the global batch: 63 over 2 processes is refused, as --sync-bn on CPUs, before training."""
    rank_env(0)
    base = dict(domain="image", width=4, epochs=1, device="cpu", out=str(tmp_path / "r"))
    with pytest.raises(UserError, match="global batch and must divide by the 2 processes"):
        train(TrainConfig(**base, batch_size=63))
    with pytest.raises(UserError, match="--sync-bn needs GPUs"):
        train(TrainConfig(**base, batch_size=64, sync_bn=True))


def test_node_classification_runs_in_one_process(rank_env, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Full-batch Cora under WORLD_SIZE 2: rank 1 exits 0 with no output, rank 0 says so once and trains alone."""
    args = ["--domain", "graph", "--epochs", "1", "--device", "cpu", "--quiet", "--out", str(tmp_path / "cora")]
    rank_env(1)
    assert cli_main(args) == 0
    assert capsys.readouterr().err == "" and not (tmp_path / "cora").exists()
    rank_env(0)
    assert cli_main(args) == 0
    err = capsys.readouterr().err
    # one epoch of Cora ends near chance, and the run says so too (health.py): the note is the only other line
    said = [line for line in err.strip().splitlines() if not line.startswith("warning: ")]
    assert err.count("runs in one process") == 1 and len(said) == 1
    assert (tmp_path / "cora" / "last.pt").is_file() and not torch.distributed.is_initialized()


FIT_SCRIPT = '''
import sys
import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn
import resnet_any

torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))  # a user's own, no BatchNorm
d = load_digits()
x = (d.images / 16.0).astype(np.float32)[:, None]
y = d.target
if sys.argv[2] == "multilabel":  # ten tags: the digit itself, and (the 10th output) whether it is even
    y = np.eye(10, dtype=np.float32)[d.target]
    y[:, 9] = (d.target % 2 == 0)
resnet_any.fit(model, (x[:1024], y[:1024]), (x[1024:1300], y[1024:1300]), out=sys.argv[1], epochs=2,
               batch_size=64, optimizer="sgd", lr=0.05, momentum=0.9, schedule="none", label_smoothing=0.0,
               device="cpu", quiet=True)
'''


@pytest.mark.parametrize("task", ["classify", "multilabel"])
def test_fit_under_torchrun_matches_one_process(tmp_path: Path, task: str) -> None:
    """A user's script calling fit with their own model: 2 gloo ranks reach one process's weights and metrics."""
    script = tmp_path / "user_script.py"
    script.write_text(FIT_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    one = subprocess.run([sys.executable, str(script), str(tmp_path / "one"), task], capture_output=True, text=True,
                         env=env, timeout=240)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([*TORCHRUN[:-2], str(script), str(tmp_path / "two"), task], capture_output=True, text=True,
                         env=env, timeout=240)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("done:") == 1  # only rank 0 prints
    a = torch.load(tmp_path / "one" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "two" / "last.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    assert diff <= WEIGHT_TOL, diff
    s1, s2 = (json.loads((tmp_path / r / "summary.json").read_text()) for r in ("one", "two"))
    key = "best_val_acc" if task == "classify" else "best_val_loss"
    assert s2["task"] == task and s2[key] == pytest.approx(s1[key], abs=1e-4)

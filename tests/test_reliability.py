"""Issue 7: no lost work (SIGKILL/SIGTERM, non-finite loss, disk full, read-only --out) and no code run from files."""
from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from resnet_any.errors import UserError
from resnet_any.train import TrainConfig, Trainer, load_checkpoint, train
from resnet_any import files as ckpt_mod
from resnet_any.files import TMP_MARK, read_checkpoint

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
# drop_path draws from the RNG every step, so an exact match also proves the RNG state survives each kill
CONFIG = dict(domain="image", width=4, epochs=10, seed=5, drop_path=0.1, device="cpu")
FLAGS = ["--domain", "image", "--width", "4", "--epochs", "10", "--seed", "5", "--drop-path", "0.1",
         "--device", "cpu", "--quiet"]
# Test-only harness: every atomic write stalls half-way (so kills land inside writes often) and every
# epoch is checkpointed (the 10 s interval would otherwise leave nothing between start and end).
WRAPPER = """
import io, sys, time
from resnet_any import files
from resnet_any.train.run import sinks, trainer
from resnet_any.train.cli import entry
orig = files.atomic_write
def slow(path, write):
    def w(f):
        buf = io.BytesIO(); write(buf); data = buf.getvalue()
        f.write(data[: len(data) // 2]); f.flush(); time.sleep(0.15); f.write(data[len(data) // 2:])
    orig(path, w)
files.atomic_write = sinks.atomic_write = slow  # checkpoints write through files.atomic_write
trainer.Trainer.checkpoint_interval_s = 0.0
clean = trainer.remove_stale_temps
def started(directory):
    clean(directory)
    print("started", file=sys.stderr, flush=True)  # setup done: training begins now
trainer.remove_stale_temps = started
sys.argv[0] = "resnet_any.train"
entry()
"""


class Payload:
    """Unpickling this runs a shell command that writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo ran > {self.marker}",))


def rows(out: Path) -> list[dict]:
    path = out / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def temps(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if TMP_MARK in p.name) if out.is_dir() else []


def _launch(wrapper: Path, out: Path) -> subprocess.Popen:
    resume = ["--resume"] if (out / "last.pt").is_file() else []
    proc = subprocess.Popen([sys.executable, str(wrapper), *FLAGS, *resume, "--out", str(out)], cwd=REPO, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None and proc.stderr.readline().strip() == "started", proc.stderr.read()
    return proc


def _check_intact(out: Path) -> int:
    """last.pt (if any) loads, and metrics.jsonl rows are epochs 1..n, each once; returns last.pt's epoch."""
    epochs = [r["epoch"] for r in rows(out)]
    assert epochs == list(range(1, len(epochs) + 1)), epochs
    if not (out / "last.pt").is_file():
        return 0
    done = int(read_checkpoint(out / "last.pt")["epoch"])
    assert len(epochs) >= done  # rows are durable before the checkpoint that counts them
    return done


def test_sigkill_at_random_moments_and_sigterm_lose_no_work(tmp_path: Path) -> None:
    full, out = tmp_path / "full", tmp_path / "killed"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same reduction order as the OMP_NUM_THREADS=1 subprocesses
    try:
        train(TrainConfig(out=str(full), quiet=True, **CONFIG))
    finally:
        torch.set_num_threads(threads)
    wrapper = tmp_path / "slow_writes.py"
    wrapper.write_text(WRAPPER)

    rng = random.Random(7)
    kills, mid_write, done = 0, 0, 0
    while kills < 5:
        launched = time.time()
        proc = _launch(wrapper, out)
        time.sleep(rng.uniform(0.0, 3.0))
        writing = f"last.pt{TMP_MARK}{proc.pid}"
        if kills % 2:
            # every other kill lands inside a last.pt write (after one has landed, so the run progresses):
            # the truncated temp must never replace last.pt
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline and not (
                    (out / "last.pt").is_file() and (out / "last.pt").stat().st_mtime > launched
                    and writing in temps(out)):
                time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed; add epochs"
        kills += 1
        mid_write += writing in temps(out)
        new = _check_intact(out)
        assert new >= done  # a kill never takes back a finished checkpoint
        done = new
    assert mid_write >= 1 and 0 < done < CONFIG["epochs"]

    # SIGTERM: stop after the current step, keep the finished epochs, say how to continue
    proc = _launch(wrapper, out)
    start_rows = len(rows(out))
    deadline = time.monotonic() + 60
    while len(rows(out)) <= start_rows and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM: stopping after the current step" in err and f"--resume --out {out}" in err
    assert "Traceback" not in err
    assert _check_intact(out) == len(rows(out)) > start_rows
    assert json.loads((out / "summary.json").read_text())["stopped"] is True

    proc = _launch(wrapper, out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert [r["epoch"] for r in rows(out)] == list(range(1, CONFIG["epochs"] + 1))
    assert temps(out) == []
    a, b = read_checkpoint(full / "last.pt")["model"], read_checkpoint(out / "last.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for ra, rb in zip(rows(full), rows(out)):
        assert (ra["train_loss"], ra["val_loss"], ra["val_acc"]) == (rb["train_loss"], rb["val_loss"], rb["val_acc"])


def _nan_at(trainer: Trainer, calls: set[int]) -> None:
    """Make the loss NaN at the given (1-based) criterion calls of training steps."""
    criterion, count = trainer.criterion, [0]

    def poisoned(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        count[0] += 1
        loss = criterion(logits, y)
        return loss * float("nan") if count[0] in calls else loss

    trainer.criterion = poisoned


SMALL = dict(domain="image", width=4, epochs=2, seed=1, device="cpu", quiet=True)


@pytest.fixture
def every_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkpoint each epoch, so a later failure has something on disk to (not) damage."""
    monkeypatch.setattr(Trainer, "checkpoint_interval_s", 0.0)


def test_nonfinite_loss_stops_naming_epoch_and_step_and_keeps_checkpoints(tmp_path: Path, every_epoch) -> None:
    trainer = Trainer(TrainConfig(out=str(tmp_path), **SMALL))
    _nan_at(trainer, {trainer.steps_per_epoch + 3})  # epoch 2, step 3
    gen = trainer.run()
    with pytest.raises(UserError, match="non-finite loss at epoch 2 step 3"):
        for rec in gen:
            if rec["type"] == "epoch":
                saved = {n: (tmp_path / n).read_bytes() for n in ("last.pt", "best.pt")}
    for name, data in saved.items():
        assert (tmp_path / name).read_bytes() == data, name
        assert all(torch.isfinite(t).all() for t in read_checkpoint(tmp_path / name)["model"].values()
                   if t.is_floating_point())
    assert read_checkpoint(tmp_path / "last.pt")["epoch"] == 1


def test_nonfinite_loss_skip_counts_steps(tmp_path: Path, every_epoch) -> None:
    trainer = Trainer(TrainConfig(out=str(tmp_path), on_nonfinite="skip", **SMALL))
    _nan_at(trainer, {2, 5, trainer.steps_per_epoch + 1})
    end = list(trainer.run())[-1]
    assert end["skipped_steps"] == 3 and end["epochs"] == 2
    state = read_checkpoint(tmp_path / "last.pt")
    assert state["skipped_steps"] == 3
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())


def test_nonfinite_weights_never_reach_a_checkpoint(tmp_path: Path, every_epoch) -> None:
    trainer = Trainer(TrainConfig(out=str(tmp_path), lr=1e30, on_nonfinite="skip", **SMALL))  # an absurd lr
    with pytest.raises(UserError, match="non-finite|trained on no batch"):
        list(trainer.run())
    for name in ("last.pt", "best.pt"):
        if (tmp_path / name).is_file():
            state = read_checkpoint(tmp_path / name)
            assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())


def test_disk_full_is_a_clear_error_and_damages_nothing(tmp_path: Path, every_epoch,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = Trainer(TrainConfig(out=str(tmp_path), **SMALL))
    real_fsync, full = os.fsync, [False]

    def fsync(fd: int) -> None:
        if full[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    gen = trainer.run()
    with pytest.raises(UserError, match="cannot write .*No space left on device"):
        for rec in gen:
            if rec["type"] == "epoch":
                saved = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix in (".pt", ".json")}
                full[0] = True
    monkeypatch.setattr(os, "fsync", real_fsync)
    for name, data in saved.items():
        assert (tmp_path / name).read_bytes() == data, name
    assert temps(tmp_path) == [] and read_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    # the space is back: the run continues where it was
    assert train(TrainConfig(out=str(tmp_path), resume=True, quiet=True))["epochs"] == 2


def test_read_only_out_is_a_clear_error_and_damages_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    train(TrainConfig(out=str(out), **{**SMALL, "epochs": 1}))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def read_only(path, mode="r", *args, **kwargs):  # root ignores chmod, so the error is injected
        if any(c in mode for c in "wax+"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return open(path, mode, *args, **kwargs)

    monkeypatch.setattr(ckpt_mod, "open", read_only, raising=False)
    with pytest.raises(UserError, match="cannot write .*Read-only file system"):
        train(TrainConfig(out=str(out), resume=True, epochs=2, quiet=True))
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_crafted_pickle_runs_nothing_through_any_entry_point(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    evil = tmp_path / "runs" / "evil" / "best.pt"
    evil.parent.mkdir(parents=True)
    torch.save({"format": "resnet_any", "model": Payload(marker)}, evil)
    (evil.parent / "config.json").write_text('{"domain": "image"}')  # an image run: the app lists it
    resume_dir = tmp_path / "resume"
    resume_dir.mkdir()
    torch.save({"format": "resnet_any", "config": Payload(marker)}, resume_dir / "last.pt")
    png = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (8, 8)).save(png)
    commands = {
        "evaluate": ["resnet_any.evaluate", "--checkpoint", str(evil)],
        "predict": ["resnet_any.predict", "--checkpoint", str(evil), str(png)],
        "train --init": ["resnet_any.train", "--domain", "image", "--init", str(evil), "--out", str(tmp_path / "i")],
        "train --resume": ["resnet_any.train", "--resume", "--out", str(resume_dir)],
    }

    def call(args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                              timeout=300)

    with ThreadPoolExecutor(max_workers=4) as pool:
        procs = dict(zip(commands, pool.map(call, commands.values())))
    for name, proc in procs.items():
        assert proc.returncode == 2, (name, proc.stderr)
        assert "refused to load" in proc.stderr and "posix.system" in proc.stderr, (name, proc.stderr)
        assert "Traceback" not in proc.stderr, name
    with pytest.raises(UserError, match="refused to load"):
        load_checkpoint(evil)
    from resnet_any.app.inference import PredictorCache, resolve_checkpoint

    with pytest.raises(UserError, match="refused to load"):  # the app's checkpoint dropdown path
        PredictorCache().get(resolve_checkpoint("evil/best.pt", tmp_path / "runs"))
    assert not marker.exists()

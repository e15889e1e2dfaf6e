"""Runs of the toolkit's own Trainer for the accuracy suites, in throwaway folders, with optional early stopping."""
from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from resnet_any.errors import UserError


def timed_command(cmd: list[str]) -> float:
    """Run a command in a fresh process; its wall seconds, or a UserError with its last stderr line if it failed."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"`{' '.join(cmd[1:])}` failed (exit {done.returncode}): {tail}")
    return wall


def train_once(config: dict[str, Any], *, patience: int | None = None, target: float | None = None) -> dict[str, Any]:
    """Train with `TrainConfig(**config)`; the "end" record plus `epochs_run`, `seconds`, `cpu_seconds`
    (this process's CPU time: on a shared machine it is what the run would take alone on its cores)
    and `time_to_target`.

    `patience`: stop once neither validation accuracy nor validation loss has gained for that many epochs
    (the EarlyStopping callback; the run still tests the epoch its selection rule picked).
    `target`: also time the first epoch whose validation accuracy reaches it.
    """
    from resnet_any.train import TrainConfig, Trainer
    from resnet_any.train.run.callbacks import EarlyStopping

    with tempfile.TemporaryDirectory(prefix="resnet_any_bench_") as tmp:
        # progress printing is the bench's job: the trainer stays quiet and writes only to tmp
        # the figures were tuned with patience counted on validation accuracy or loss, whichever gains
        callbacks = [EarlyStopping(patience, ("val", "val_loss"))] if patience else []
        # the published protocols these runs reproduce use neither class weights nor mixup: pin them against
        # the data-derived rules (derive.py)
        pinned = {"class_weights": "none", "mixup": 0.0}
        trainer = Trainer(TrainConfig(**{"quiet": True, **pinned, **config, "out": str(Path(tmp) / "run")}),
                          callbacks=callbacks)
        end: dict[str, Any] = {}
        epochs = 0
        reached: float | None = None
        start, cpu = time.perf_counter(), time.process_time()
        for rec in trainer.run():
            if rec["type"] == "epoch":
                epochs = rec["epoch"]
                if target is not None and reached is None and (rec["val_acc"] or 0.0) >= target:
                    reached = time.perf_counter() - start
            elif rec["type"] == "end":
                end = rec
        return {**end, "epochs_run": epochs, "seconds": time.perf_counter() - start, "time_to_target": reached,
                "cpu_seconds": time.process_time() - cpu}


def _one_thread_call(fn: Callable[..., Any], args: Sequence[Any]) -> Any:
    """Run `fn(*args)` in a worker process with one torch thread (the workers share the cores)."""
    import torch

    torch.set_num_threads(1)
    return fn(*args)


def parallel_map(fn: Callable[..., Any], tasks: Iterable[Sequence[Any]], jobs: int = 1) -> Iterator[Any]:
    """`fn(*task)` for each task, in order; with jobs > 1 in that many spawned processes of one thread each."""
    tasks = list(tasks)
    if jobs <= 1:
        for task in tasks:
            yield fn(*task)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: a forked child of a process that already ran OpenMP threads can hang
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(_one_thread_call, [fn] * len(tasks), tasks)

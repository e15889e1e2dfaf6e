"""When checkpoints reach the disk: the newest finished epoch's best.pt/last.pt, at most every `interval_s`."""
from __future__ import annotations

import io
import math
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from resnet_any import files
from resnet_any.train.run.sinks import Sink


def snapshot(obj: Any, fresh: Sequence[str] = ("history",)) -> Any:
    """A copy of a checkpoint's state that later training steps cannot change: tensors cloned, containers copied.

    `fresh`: top-level keys the caller built anew and never changes (checkpoint_state copies the history's
    rows): walking 300 epochs of rows each epoch would cost what the lazy write saves.
    """
    if isinstance(obj, dict) and fresh:
        return {k: v if k in fresh else snapshot(v, ()) for k, v in obj.items()}
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: snapshot(v, ()) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(snapshot(v, ()) for v in obj)
    return obj


class CheckpointWriter:
    """Holds the newest finished epoch's checkpoint bytes and writes them atomically on a cadence.

    fsync costs tens of ms, too much for every 0.05 s Cora epoch, so writes happen at most every
    `interval_s` (and always at the end, at a stop, or when the consumer leaves). The first finished epoch
    is written at once: until last.pt exists a kill leaves nothing to resume. An epoch's state is held as a
    snapshot and serialised only when written: torch.save of every epoch's state (its history growing with
    the epochs) cost ~8 ms of a ~80 ms Cora epoch, for bytes the next epoch mostly replaced unwritten.
    """

    def __init__(self, out: Path, sinks: Sequence[Sink], interval_s: float) -> None:
        self.out, self.sinks, self.interval_s = out, sinks, interval_s
        self.pending: dict[str, dict[str, Any]] = {}
        self.last_write = -math.inf

    def queue(self, state: dict[str, Any], best: bool) -> None:
        """Keep a snapshot of an epoch's state (as best.pt too when it improved); write it if the cadence allows."""
        if best:
            self.pending["best.pt"] = state
        self.pending["last.pt"] = state
        if time.monotonic() - self.last_write >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        """Write the newest finished epoch's checkpoints, after making the sinks' rows for it durable."""
        if not self.pending:
            return
        for sink in self.sinks:
            sink.flush()
        # best.pt before last.pt: on disk, best.pt is never older than the best epoch last.pt records
        serialised: dict[int, bytes] = {}  # best.pt and last.pt of one epoch: one torch.save
        for name in ("best.pt", "last.pt"):
            if name in self.pending:
                state = self.pending.pop(name)
                if id(state) not in serialised:
                    buf = io.BytesIO()
                    torch.save(state, buf)
                    serialised[id(state)] = buf.getvalue()
                data = serialised[id(state)]
                files.atomic_write(self.out / name, lambda f: f.write(data))
        self.last_write = time.monotonic()

"""When checkpoints reach the disk: the newest finished epoch's best.pt/last.pt, at most every `interval_s`."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Sequence

from resnet_any import files
from resnet_any.train.run.sinks import Sink


class CheckpointWriter:
    """Holds the newest finished epoch's checkpoint bytes and writes them atomically on a cadence.

    fsync costs tens of ms, too much for every 0.05 s Cora epoch, so writes happen at most every
    `interval_s` (and always at the end, at a stop, or when the consumer leaves). The first finished epoch
    is written at once: until last.pt exists a kill leaves nothing to resume.
    """

    def __init__(self, out: Path, sinks: Sequence[Sink], interval_s: float) -> None:
        self.out, self.sinks, self.interval_s = out, sinks, interval_s
        self.pending: dict[str, bytes] = {}
        self.last_write = -math.inf

    def queue(self, data: bytes, best: bool) -> None:
        """Keep an epoch's checkpoint (as best.pt too when it improved) and write it if the cadence allows."""
        if best:
            self.pending["best.pt"] = data
        self.pending["last.pt"] = data
        if time.monotonic() - self.last_write >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        """Write the newest finished epoch's checkpoints, after making the sinks' rows for it durable."""
        if not self.pending:
            return
        for sink in self.sinks:
            sink.flush()
        # best.pt before last.pt: on disk, best.pt is never older than the best epoch last.pt records
        for name in ("best.pt", "last.pt"):
            if name in self.pending:
                data = self.pending.pop(name)
                files.atomic_write(self.out / name, lambda f: f.write(data))
        self.last_write = time.monotonic()

"""Why a run ends, decided in one place: its epochs ran out, a callback asked (early stop, pruning), or a caller
interrupted it (the app's Stop button, a signal, `fit(stop=...)`). Lightning's loop keeps one `done`; so do we.
"""
from __future__ import annotations

import threading
from typing import Any, Sequence


class Stopping:
    """The run's stop request (one event, shared by the caller and the callbacks) and the reason it ended."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.event = threading.Event()
        self.by_callback = False   # a callback asked: the summary says early_stopped, not stopped
        self.stopped = False       # the loop left before its last epoch

    def use(self, event: threading.Event | None) -> None:
        """Share a caller's event (set by the app's button or a signal handler) with the callbacks' requests."""
        if event is not None:
            self.event = event

    def request(self, early: bool = True) -> None:
        """Ask the run to end after the current epoch (`early`: a callback's decision, not an interruption)."""
        self.by_callback = self.by_callback or early
        self.event.set()

    def asked(self) -> bool:
        """Whether a stop was asked in this process."""
        return self.event.is_set()

    def done(self, epoch: int, asked: bool) -> bool:
        """After a finished epoch: leave the loop when a stop was asked (on any rank) before the last epoch."""
        if asked and epoch < self.epochs:
            self.stopped = True
        return self.stopped

    def interrupted(self) -> None:
        """The loop left in the middle of an epoch (that epoch is not kept)."""
        self.stopped = True

    def summary(self, callbacks: Sequence[Any], epochs_run: int) -> dict[str, Any]:
        """The end record's account of why the run ended."""
        early = self.stopped and self.by_callback
        out: dict[str, Any] = {"stopped": self.stopped and not early}
        if early:
            epoch = next((c.stopped_epoch for c in callbacks if getattr(c, "stopped_epoch", None)), None)
            out.update(early_stopped=True, early_stopped_epoch=epoch or epochs_run)
        return out

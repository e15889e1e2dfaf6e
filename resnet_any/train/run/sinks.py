"""Sinks consume the trainer's record stream: run files (config, metrics, summary, TensorBoard, curves) and the console."""
from __future__ import annotations

import io
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, TextIO

from resnet_any.files import atomic_write, atomic_write_json
from resnet_any.errors import UserError
from resnet_any.figures import figure, png_bytes
from resnet_any.train.run.metrics import TASK_METRICS

# what a run's outputs are, per task, in the start line
OUTPUTS = {"classify": "classes", "regress": "targets", "multilabel": "tags"}
# every task's metrics beyond loss and accuracy, each once (TensorBoard writes those a record holds)
ALL_METRICS = tuple(dict.fromkeys(m for names in TASK_METRICS.values() for m in names))


class Sink:
    """Receives every record in order; `close()` once at the end, also after an error."""

    def write(self, rec: dict[str, Any]) -> None:
        """Handle one record."""

    def flush(self) -> None:
        """Make what was written so far durable (called before each checkpoint write)."""

    def close(self) -> None:
        """Release files; safe to call twice."""


class RunFiles(Sink):
    """config.json at start, summary.json at end."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def write(self, rec: dict[str, Any]) -> None:
        """Write config.json on "start" and summary.json on "end"."""
        if rec["type"] == "start":
            atomic_write_json(self.out / "config.json", rec["config"])
        elif rec["type"] == "end":
            atomic_write_json(self.out / "summary.json", {k: v for k, v in rec.items() if k != "type"})


class MetricsFile(Sink):
    """metrics.jsonl: one row per finished epoch, durable before the checkpoint that counts that epoch."""

    def __init__(self, out: Path) -> None:
        self.path = out / "metrics.jsonl"
        self.file: io.TextIOWrapper | None = None

    def write(self, rec: dict[str, Any]) -> None:
        """Rewrite from the checkpoint's history on "start" (drops rows of epochs a resume will redo); append on "epoch"."""
        try:
            if rec["type"] == "start":
                rows = "".join(json.dumps(r) + "\n" for r in rec["history"])
                atomic_write(self.path, lambda f: f.write(rows.encode()))
                self.file = open(self.path, "a", encoding="utf-8")
            elif rec["type"] == "epoch" and self.file is not None:
                self.file.write(json.dumps(epoch_row(rec)) + "\n")
                self.file.flush()
        except OSError as e:
            raise UserError(f"cannot write {str(self.path)!r}: {e.strerror or e}") from None

    def flush(self) -> None:
        """fsync the rows written so far."""
        if self.file is not None:
            try:
                os.fsync(self.file.fileno())
            except OSError as e:
                raise UserError(f"cannot write {str(self.path)!r}: {e.strerror or e}") from None

    def close(self) -> None:
        """fsync and close."""
        if self.file is not None:
            try:
                self.flush()
            finally:
                self.file.close()
                self.file = None


def epoch_row(rec: dict[str, Any]) -> dict[str, Any]:
    """The metrics.jsonl row of an "epoch" record (the record without its type)."""
    return {k: v for k, v in rec.items() if k != "type"}


class TensorBoard(Sink):
    """TensorBoard scalars per epoch (train/val loss and accuracy, lr, throughput) under the run directory."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.writer = None

    def write(self, rec: dict[str, Any]) -> None:
        """Open the writer on "start" (purging steps a resume redoes), add scalars on "epoch", close on "end"."""
        if rec["type"] == "start":
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # tensorboard's protobuf/pkg_resources deprecation noise
                    from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print("warning: tensorboard is not installed; no event files written", file=sys.stderr)
                return
            self.writer = SummaryWriter(str(self.out), purge_step=rec["start_epoch"] + 1)
        elif rec["type"] == "epoch" and self.writer is not None:
            e = rec["epoch"]
            for split in ("train", "val"):
                if rec[f"{split}_loss"] is not None:  # None: no validation split (--select train_loss)
                    self.writer.add_scalar(f"loss/{split}", rec[f"{split}_loss"], e)
                    if rec.get(f"{split}_acc") is not None:  # regression has no accuracy
                        self.writer.add_scalar(f"accuracy/{split}", rec[f"{split}_acc"], e)
            for name in ALL_METRICS:  # validation only (training has just its running loss and accuracy)
                if rec.get(f"val_{name}") is not None:  # AUROC is None where undefined, older rows lack them
                    self.writer.add_scalar(f"{name}/val", rec[f"val_{name}"], e)
            self.writer.add_scalar("lr", rec["lr"], e)
            self.writer.add_scalar("samples_per_s", rec["samples_per_s"], e)
        elif rec["type"] == "end" and self.writer is not None:
            if rec.get("test_accuracy") is not None:
                self.writer.add_scalar("accuracy/test", rec["test_accuracy"], rec.get("best_epoch") or 0)
            for name in ALL_METRICS:
                if rec.get(f"test_{name}") is not None:
                    self.writer.add_scalar(f"{name}/test", rec[f"test_{name}"], rec.get("best_epoch") or 0)
            self.close()

    def flush(self) -> None:
        """Flush pending events to the event file."""
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class Curves(Sink):
    """curves.png (loss and accuracy per epoch), redrawn at the end and at most every `every_s` seconds."""

    def __init__(self, out: Path, every_s: float = 60.0) -> None:
        self.path = out / "curves.png"
        self.rows: list[dict[str, Any]] = []
        self.every_s = every_s
        self.last = time.monotonic()
        self.title = out.name
        self.best: tuple[int, str] | None = None

    def write(self, rec: dict[str, Any]) -> None:
        """Collect epoch rows; draw when due and at the end."""
        if rec["type"] == "start":
            self.rows = list(rec["history"])
            cfg = rec["config"]
            self.title = f"{Path(rec['out']).name}: {cfg.get('model')} on {cfg.get('dataset')}"
        elif rec["type"] == "epoch":
            self.rows.append(epoch_row(rec))
            if time.monotonic() - self.last > self.every_s:
                self.draw()
        elif rec["type"] == "end" and self.rows:
            if rec.get("best_epoch") is not None:
                self.best = (int(rec["best_epoch"]), str(rec.get("select", "")))
            self.draw()

    def draw(self) -> None:
        """Render the figure to PNG atomically."""
        self.last = time.monotonic()
        atomic_write(self.path, lambda f: f.write(plot_curves(self.rows, self.title, self.best)))


# a loss range wider than this is drawn on a log axis: one early spike (7.2 on digits) would flatten the rest
LOG_LOSS_RANGE = 100.0


def plot_curves(rows: list[dict[str, Any]], title: str | None = None, best: tuple[int, str] | None = None) -> bytes:
    """PNG bytes of `curves_figure`."""
    return png_bytes(curves_figure(rows, title, best))


def curves_figure(rows: list[dict[str, Any]], title: str | None = None, best: tuple[int, str] | None = None) -> Any:
    """Train/val loss and accuracy against epoch (a matplotlib Figure); `best` (epoch, select rule) is marked."""
    from matplotlib.ticker import MaxNLocator

    fig = figure(9, 3.8)
    epochs = [r["epoch"] for r in rows]
    # the second panel: accuracy, or the task's own metric (validation RMSE of a regression, mAP of tags)
    second = next(((m, label) for m, label in (("rmse", "RMSE"), ("map", "mAP"), ("acc", "accuracy"))
                   if any(r.get(f"val_{m}") is not None or r.get(f"train_{m}") is not None for r in rows)),
                  ("acc", "accuracy"))
    for i, (metric, label) in enumerate((("loss", "loss"), second)):
        ax = fig.add_subplot(1, 2, i + 1)
        values = []
        for split, style in (("train", "-"), ("val", "--")):
            if any(r.get(f"{split}_{metric}") is None for r in rows):
                continue  # no validation split (--select train_loss), or no training value of this metric
            ys = [r[f"{split}_{metric}"] for r in rows]
            values += ys
            ax.plot(epochs, ys, style, marker="." if len(rows) < 30 else None, label=split)
        if best is not None:
            ax.axvline(best[0], color="gray", linestyle=":",
                       label=f"kept: epoch {best[0]}" + (f" ({best[1]})" if best[1] else ""))
        positive = [v for v in values if v is not None and v > 0]
        if metric == "loss" and positive and max(positive) / min(positive) > LOG_LOSS_RANGE:
            ax.set_yscale("log")
            label += " (log scale)"
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # a regression without validation has no RMSE curve to label
            ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def file_sinks(out: Path) -> list[Sink]:
    """Every file a run writes besides checkpoints; only rank 0 gets these."""
    return [RunFiles(out), MetricsFile(out), TensorBoard(out), Curves(out)]


def format_epoch(rec: dict[str, Any], epochs: int) -> str:
    """One plain line for an epoch record."""
    # the task's own metric: numbers and tags first (a multi-label record's val_acc is subset accuracy)
    key = next((k for k in ("val_rmse", "val_map", "val_acc") if rec.get(k) is not None), None)
    val = f"val_loss {rec['val_loss']:.4f}  " if rec.get("val_loss") is not None else ""
    val += f"{key} {rec[key]:.4f}  " if key else ""
    train_acc = f"train_acc {rec['train_acc']:.4f}  " if rec.get("train_acc") is not None else ""
    return (f"epoch {rec['epoch']}/{epochs}  train_loss {rec['train_loss']:.4f}  {train_acc}"
            f"{val}lr {rec['lr']:.3g}  "
            f"{rec['seconds']:.1f}s  {rec['samples_per_s']:.0f} samples/s")


class Console(Sink):
    """A tqdm bar per epoch on a terminal, plain lines otherwise; nothing but the final line when quiet.

    Epoch lines come at most every `every_s` seconds (always the first and the last), so 200 Cora
    epochs of 50 ms do not scroll 200 lines past; metrics.jsonl has every epoch.
    """

    def __init__(self, quiet: bool = False, stream: TextIO | None = None, tty: bool | None = None,
                 every_s: float = 1.0) -> None:
        self.quiet = quiet
        self.every_s = every_s
        self.last_line = -float("inf")
        self.stream = stream or sys.stdout
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.bar = None
        self.epochs = 0
        self.done = 0

    def _print(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def write(self, rec: dict[str, Any]) -> None:
        """Render one record."""
        kind = rec["type"]
        if kind == "start":
            self.epochs = rec["config"]["epochs"]
            if not self.quiet:
                c, n = rec["config"], rec["samples"]
                resumed = f", resuming after epoch {rec['start_epoch']}" if rec["start_epoch"] else ""
                for note in rec.get("notes", []):
                    print(f"note: {note}", file=sys.stderr, flush=True)
                self._print(f"{c['model']} ({rec['parameters']:,} parameters) on {c['dataset']} "
                            f"[{c['domain']}: {n['train']} train / {n['val']} val / {n['test']} test, "
                            f"{rec['num_classes']} {OUTPUTS.get(c.get('task') or 'classify', 'classes')}] on {rec['device']} ({rec.get('precision', 'fp32')}), "
                            f"{self.epochs} epochs{resumed} -> {rec['out']}")
        elif kind == "step" and self.tty and not self.quiet:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=rec["steps_per_epoch"], desc=f"epoch {rec['epoch']}/{self.epochs}",
                                leave=False, dynamic_ncols=True, file=sys.stderr)
                self.done = 0
            self.bar.update(rec["step"] - self.done)
            self.done = rec["step"]
            self.bar.set_postfix(loss=f"{rec['loss']:.4f}", samples_s=f"{rec['samples_per_s']:.0f}",
                                 eta=f"{rec['eta_s']:.0f}s", refresh=False)
        elif kind == "epoch":
            self._close_bar()
            now = time.monotonic()
            if not self.quiet and (now - self.last_line >= self.every_s or rec["epoch"] == self.epochs):
                self.last_line = now
                self._print(format_epoch(rec, self.epochs))
        elif kind == "end":
            self._close_bar()
            for warning in rec.get("warnings", []):  # said even when quiet: a run that learned nothing
                print(f"warning: {warning}", file=sys.stderr, flush=True)
            shown = [k for k in (("test_rmse", "test_mae", "test_r2") if rec.get("task") == "regress" else
                                 ("test_map", "test_macro_f1", "test_accuracy") if rec.get("task") == "multilabel" else
                                 ("test_accuracy", "test_macro_f1")) if rec.get(k) is not None]
            if shown:
                result = ("  ".join(f"{k} {rec[k]:.4f}" for k in shown)
                          + f"  test_loss {rec['test_loss']:.4f}  best_epoch {rec['best_epoch']}")
            elif rec.get("best_epoch") is not None:  # fit without test data: the kept epoch's own metric
                key = next((k for k in ("best_val_rmse", "best_val_map", "best_val_acc") if rec.get(k) is not None), None)
                result = (f"best_epoch {rec['best_epoch']}" + (f"  {key[5:]} {rec[key]:.4f}" if key else "")
                          + "  (no test split)")
            else:
                result = "no finished epoch, no test metrics"
            state = "stopped" if rec["stopped"] else "done"
            self._print(f"{state}: {result}  wall {rec['wall_seconds']:.1f}s  -> {rec['out']}")

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        """Close an open progress bar."""
        self._close_bar()

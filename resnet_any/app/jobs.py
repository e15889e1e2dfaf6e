"""The Train tab's logic without gradio: one Trainer per job in a thread, its records folded into curves and status."""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from resnet_any.app.messages import public_message
from resnet_any.errors import UserError

log = logging.getLogger(__name__)

# Held by a job's thread from Trainer() to the confusion matrix: a job whose client went away is still
# finishing its step when the queue admits the next one, and two trainings must never share the 2 cores.
TRAIN_LOCK = threading.Lock()
MAX_STEP_POINTS = 400
# A job nobody has read for this long lost its client without the request being cancelled: stop it.
ORPHAN_S = 30.0
MAX_CONFUSION_CLASSES = 30


def new_run_dir(runs_dir: str | Path, domain: str) -> Path:
    """runs_dir/<domain>-<timestamp>, the CLI's naming, suffixed when taken."""
    base = Path(runs_dir) / f"{domain}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return out


# what each task plots per epoch: (the epoch record's metric, the plot's name) (train/run/metrics.py TASK_METRICS)
TASK_METRIC = {"classify": ("acc", "Accuracy"), "regress": ("rmse", "RMSE"), "multilabel": ("map", "mAP")}
# what the end of a run reads out per task: (summary key, words), the first one leading
TEST_SCORES = {"classify": (("test_accuracy", "test accuracy"), ("test_macro_f1", "macro F1")),
               "regress": (("test_rmse", "test RMSE"), ("test_r2", "R²")),
               "multilabel": (("test_map", "test mAP"), ("test_macro_f1", "macro F1"))}
PICTURE_TITLES = {"classify": "Confusion matrix (test split)",
                  "regress": "Predicted vs true, and residuals (test split)",
                  "multilabel": "Precision and recall per tag (test split)"}


def _task_picture(trainer: Any, end: dict[str, Any]) -> dict[str, Any] | None:
    """Numbers and tags: evaluate's picture of the test split (inference.task_plots) instead of a confusion matrix."""
    from resnet_any.domains.checkpoint_info import CheckpointInfo
    from resnet_any.inference.evaluation import task_scores
    from resnet_any.inference.task_plots import plot_result
    from resnet_any.train.run.tasks import predict_split

    task = end["task"]
    if end.get(TEST_SCORES[task][0][0]) is None:
        return None
    logits, targets = predict_split(trainer.model, trainer.task, "test")
    splits = trainer.splits
    meta = CheckpointInfo(task=task, class_names=[str(c) for c in splits.class_names], data=splits.meta,
                          best=trainer.best if isinstance(getattr(trainer, "best", None), dict) else None)
    result = {"model": end["model"], "dataset": end["dataset"], "split": "test", "task": task,
              **task_scores(meta, logits, targets, keep_outputs=True)}
    return {"title": PICTURE_TITLES[task], "png": plot_result(result)[1]}


def _confusion(trainer: Any, end: dict[str, Any]) -> dict[str, Any] | None:
    """Test-split confusion matrix of the trainer's model (best.pt weights after "end"), as evaluate reports it
    (inference.confusion); regress and multilabel runs get their own picture instead (_task_picture)."""
    from resnet_any.inference.confusion import confusion_matrix, plot_confusion
    from resnet_any.train.run.tasks import predict_split

    if end.get("task", "classify") != "classify":
        return _task_picture(trainer, end)
    k = trainer.splits.num_classes
    if end.get("test_accuracy") is None or k > MAX_CONFUSION_CLASSES:
        return None
    logits, targets = predict_split(trainer.model, trainer.task, "test")
    cm = confusion_matrix(logits, targets, k)
    result = {"model": end["model"], "dataset": end["dataset"], "split": "test", "accuracy": end["test_accuracy"],
              "class_names": [str(c) for c in trainer.splits.class_names], "confusion_matrix": cm.tolist()}
    result["png"] = plot_confusion(result)
    result["title"] = PICTURE_TITLES["classify"]
    return result


class TrainJob:
    """Runs `Trainer(config).run(stop)` in a daemon thread and queues its records for the UI to drain.

    Epochs the plan derives (the config leaves them unset) are held to `max_epochs`, the server's cap.
    A failure becomes `error`: the one line `messages.public_message` allows a remote user to see (files named
    relative to `data_root`, no values read from them); the full message goes to the server's log.
    """

    def __init__(self, config: Any, stop: threading.Event | None = None, data_root: Path | None = None,
                 max_epochs: int | None = None) -> None:
        self.config = config
        self.max_epochs = max_epochs
        self.data_root = data_root
        self.stop = stop or threading.Event()
        self.records: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.error: str | None = None
        self.done = threading.Event()
        self.waiting = False
        self.last_read = time.monotonic()
        self.thread = threading.Thread(target=self._run, name="resnet_any-train", daemon=True)

    def start(self) -> "TrainJob":
        """Start the thread; returns self."""
        self.thread.start()
        return self

    def _run(self) -> None:
        from resnet_any.train import Trainer

        try:
            self.waiting = TRAIN_LOCK.locked()
            with TRAIN_LOCK:
                self.waiting = False
                if self.stop.is_set():
                    return
                trainer = Trainer(self._plan())
                end = None
                for rec in trainer.run(self.stop):
                    self.records.put(rec)
                    if time.monotonic() - self.last_read > ORPHAN_S:
                        self.stop.set()
                    if rec["type"] == "end":
                        end = rec
                if end is not None and end.get("best_epoch") is not None:
                    cm = _confusion(trainer, end)
                    if cm is not None:
                        self.records.put({"type": "confusion", **cm})
        except UserError as e:
            log.info("training job refused: %s", " ".join(str(e).split()))
            self.error = public_message(e, self.data_root)
        except Exception as e:  # noqa: BLE001 - the UI must get a message, the log gets the traceback
            if not isinstance(e, MemoryError):
                log.exception("training job failed")
            self.error = public_message(e, self.data_root)
        finally:
            self.done.set()

    def _plan(self) -> Any:
        """The trainer's plan of the config: what the command line would run, derived epochs held to max_epochs."""
        from resnet_any.train.plan import make_plan

        return make_plan(self.config, max_epochs=self.max_epochs)

    def drain(self) -> list[dict[str, Any]]:
        """Every record queued since the last call."""
        self.last_read = time.monotonic()
        out = []
        while True:
            try:
                out.append(self.records.get_nowait())
            except queue.Empty:
                return out


class JobRegistry:
    """Stop flags of jobs by key and browser session, made on Start so that Stop also reaches queued jobs."""

    def __init__(self, max_keys: int = 1000) -> None:
        self._flags: dict[str, tuple[float, str | None, threading.Event]] = {}
        self._lock = threading.Lock()
        self.max_keys = max_keys

    def new_key(self, session: str | None = None) -> str:
        """Register a fresh job key of `session` with a cleared stop flag."""
        key = uuid.uuid4().hex
        with self._lock:
            if len(self._flags) >= self.max_keys:  # keys of tabs closed while queued are never released
                for old in sorted(self._flags, key=lambda k: self._flags[k][0])[: self.max_keys // 2]:
                    del self._flags[old]
            self._flags[key] = (time.monotonic(), session, threading.Event())
        return key

    def flag(self, key: str | None) -> threading.Event:
        """The stop flag of `key` (a fresh one for API calls, which have no key and stop by cancelling)."""
        with self._lock:
            if key and key in self._flags:
                return self._flags[key][2]
        return threading.Event()

    def stop_session(self, session: str | None) -> int:
        """Set the stop flag of every job `session` started, running or queued; returns how many."""
        with self._lock:
            flags = [f for _, s, f in self._flags.values() if session is not None and s == session]
        for f in flags:
            f.set()
        return len(flags)

    def release(self, key: str | None) -> None:
        """Forget a finished job's key."""
        with self._lock:
            self._flags.pop(key or "", None)


def _duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "?"
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass
class Progress:
    """What the UI shows of a job, folded from its records: curve points, a status line, the final result."""

    steps: list[tuple[float, float]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    start: dict[str, Any] | None = None
    last_step: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    confusion: dict[str, Any] | None = None
    t0: float = field(default_factory=time.monotonic)
    stop_requested: bool = False

    def add(self, rec: dict[str, Any]) -> None:
        """Fold one trainer record in."""
        kind = rec["type"]
        if kind == "start":
            self.start = rec
        elif kind == "step":
            self.last_step = rec
            x = rec["epoch"] - 1 + rec["step"] / max(rec["steps_per_epoch"], 1)
            self.steps.append((round(x, 4), float(rec["loss"])))
            if len(self.steps) > MAX_STEP_POINTS:
                # thin old points, keep the newest: long runs stay cheap to send every half second
                self.steps = self.steps[:-MAX_STEP_POINTS // 2:2] + self.steps[-MAX_STEP_POINTS // 2:]
        elif kind == "epoch":
            self.epochs.append(rec)
        elif kind == "end":
            self.end = rec
        elif kind == "confusion":
            self.confusion = rec

    def loss_rows(self) -> list[dict[str, Any]]:
        """Loss curve points: running train loss per step, train and val loss per epoch."""
        rows = [{"epoch": x, "loss": y, "curve": "train (running)"} for x, y in self.steps]
        for e in self.epochs:
            rows.append({"epoch": float(e["epoch"]), "loss": float(e["train_loss"]), "curve": "train"})
            if e.get("val_loss") is not None:  # None: trained without a validation split
                rows.append({"epoch": float(e["epoch"]), "loss": float(e["val_loss"]), "curve": "val"})
        return rows

    @property
    def task(self) -> str:
        """classify, regress or multilabel: from the end record, else from the metrics the epochs record."""
        if self.end is not None and self.end.get("task"):
            return self.end["task"]
        first = self.epochs[0] if self.epochs else {}
        return "regress" if "val_rmse" in first else "multilabel" if "val_map" in first else "classify"

    def acc_rows(self) -> list[dict[str, Any]]:
        """Curve points of the task's metric per finished epoch (TASK_METRIC: accuracy, RMSE, mAP), in the
        "accuracy" column the plot reads; numbers and tags have no training-time metric, only val's."""
        key = TASK_METRIC[self.task][0]
        rows = []
        for e in self.epochs:
            if e.get(f"train_{key}") is not None:
                rows.append({"epoch": float(e["epoch"]), "accuracy": float(e[f"train_{key}"]), "curve": "train"})
            if e.get(f"val_{key}") is not None:  # None: trained without a validation split
                rows.append({"epoch": float(e["epoch"]), "accuracy": float(e[f"val_{key}"]), "curve": "val"})
        return rows

    def test_text(self, bold: bool = False, lead: bool = False) -> str | None:
        """The end's test scores in words ("test accuracy 0.9861 · macro F1 0.98"; `lead`: the first alone), None
        when none was scored."""
        e = self.end or {}
        scores = TEST_SCORES[self.task][:1 if lead else None]
        if e.get(scores[0][0]) is None:
            return None
        b = "**" if bold else ""
        return " · ".join(f"{words} {b}{e[key]:.4f}{b}" for key, words in scores if e.get(key) is not None)

    def status(self, waiting: bool = False) -> str:
        """One line: what the job is doing now, with epoch, samples/s and ETA while training."""
        elapsed = _duration(time.monotonic() - self.t0)
        if self.end is not None:
            e = self.end
            verb = "stopped" if e["stopped"] else "finished"
            scored = self.test_text(lead=True)
            acc_text = f" · {scored}" if scored is not None else " · no finished epoch, nothing to test"
            warned = "".join(f" · warning: {w}" for w in e.get("warnings", []))  # a run that learned nothing
            return (f"{verb} after {e['epochs']} epoch(s) in {_duration(e['wall_seconds'])}{acc_text} · "
                    f"run dir `{Path(e['out']).name}`{warned}")
        if waiting:
            return f"waiting for the previous job to finish stopping… ({elapsed})"
        if self.start is None:
            return f"loading data and building the model… ({elapsed})"
        total = self.start["epochs"]
        prefix = "stopping after this step… · " if self.stop_requested else ""
        if self.last_step is None:
            done = f" · {len(self.epochs)} epoch(s) done" if self.epochs else ""
            return f"{prefix}epoch {len(self.epochs) + 1}/{total} starting{done} · elapsed {elapsed}"
        s = self.last_step
        return (f"{prefix}epoch {s['epoch']}/{total} · step {s['step']}/{s['steps_per_epoch']} · "
                f"loss {s['loss']:.4f} · {s['samples_per_s']:,.0f} samples/s · ETA {_duration(s['eta_s'])} · "
                f"elapsed {elapsed}")

    def result(self) -> str:
        """Markdown summary once the run ended: where it is and what it scored."""
        if self.end is None:
            return ""
        e, c = self.end, (self.start or {}).get("config", {})
        lines = [f"**{e['model']}** on **{e['dataset']}** ({e['domain']}) · {e['parameters']:,} parameters"]
        scored = self.test_text(bold=True)
        if scored is not None:
            chosen = (f"val acc {e['best_val_acc']:.4f}" if e.get("best_val_acc") is not None
                      else f"val loss {e['best_val_loss']:.4f}" if e.get("best_val_loss") is not None
                      else f"train loss {e['best_train_loss']:.4f}")
            lines.append(f"{scored} (best epoch {e['best_epoch']}, {chosen})")
        lines.append(f"checkpoints in `{Path(e['out']).name}/` (best.pt, last.pt)" if e.get("best_epoch") else
                     "no epoch finished, so no checkpoint was written")
        if c.get("domain") == "image" and e.get("best_epoch"):
            lines.append("pick it in the **Classify** tab's model list")
        return "  \n".join(lines)

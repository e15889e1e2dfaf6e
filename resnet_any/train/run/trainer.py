"""Run: the one training loop, shared by every domain, the CLI, `fit` and the Gradio app: a generator of records.

`Trainer(plan)` takes a frozen Plan (resnet_any.train.plan) — or options, which it plans first — builds the
optimizer, schedule, task and regularizers from it, and `run()` trains top to bottom, yielding typed records
(records.py) to the sinks and the caller. It never checks options, makes notes or changes the Plan. Callers
vary it through callbacks (callbacks.py), never by replacing its internals.
"""
from __future__ import annotations

import contextlib
import math
import threading
import time
from typing import Any, Iterator, Sequence

import torch

from resnet_any.errors import UserError
from resnet_any.train import distributed
from resnet_any.train.run.callbacks import Callback, EarlyStopping
from resnet_any.train.run.health import Health
from resnet_any.train.run.metrics import TASK_METRICS, choose_thresholds, no_metrics
from resnet_any.train.run.objectives import make_objective
from resnet_any.files import read_checkpoint, remove_stale_temps
from resnet_any.train.run.checkpoints import CheckpointWriter, snapshot
from resnet_any.train.run.optim import Schedule, build_optimizer
from resnet_any.train.options import TrainConfig
from resnet_any.train.plan import Plan, make_plan, with_callbacks
from resnet_any.train.run.records import EndRecord, EpochRecord, StartRecord
from resnet_any.train.run.regularize import balanced_order, make_ema, make_mix
from resnet_any.train.run.selection import MONITORED, improves, monitored
from resnet_any.train.run.sinks import Sink, epoch_row, file_sinks
from resnet_any.train.run.stopping import Stopping
from resnet_any.train.state import Progress, checkpoint_state, epoch_generators, restore
from resnet_any.train.run.tasks import make_task, predict_split, shuffled

STEP_INTERVAL_S = 0.1


def is_main_process() -> bool:
    """Only rank 0 writes files and prints, so every write goes through a check of this."""
    return distributed.from_env().is_main


class Trainer:
    """Runs a Plan: `run()` trains and yields records ("start", "step" ~10/s, "epoch", "end").

    Built from a Plan, or from options (a TrainConfig), which it plans first; either way every check has
    happened before anything is written. `callbacks` see the records and may stop the run or shape the
    optimizer's parameter groups.
    """

    # Checkpoints of finished epochs are written at most this often (and always at the end or a
    # stop): fsync costs tens of ms, too much every epoch of a 0.05 s Cora epoch. A SIGKILL loses at
    # most this much work, which --resume redoes identically.
    checkpoint_interval_s = 10.0

    def __init__(self, plan: Plan | TrainConfig, sinks: list[Sink] | None = None,
                 callbacks: Sequence[Callback] = ()) -> None:
        """Build what the run needs from a Plan (optimizer, schedule, task, regularizers, sinks); writes nothing yet.

        Args:
            plan: a frozen Plan (make_plan), or options (a TrainConfig) that are planned here.
            sinks: record consumers besides the run folder's files (the console, the app's queue, ...).
            callbacks: per-epoch hooks; the first that returns parameter groups decides the optimizer's.
        """
        # the plan decides a callback's parameter groups (a new Plan when the caller planned without them)
        plan = make_plan(plan, callbacks=callbacks) if not isinstance(plan, Plan) else with_callbacks(plan, callbacks)
        self.plan = plan
        self.cfg = plan.config
        self.splits, self.model, self.device, self.dist, self.out = plan.splits, plan.model, plan.device, plan.dist, plan.out
        self.selects_on_val = plan.selects_on_val
        # every run watches for learning nothing (health.py); it judges the curves the loop hands it
        self.health = Health(self.splits.num_classes, self.class_counts("val"), plan.epoch_budget, self.splits.task)
        if self.splits.task == "multilabel":  # what scores that ignore the input reach: the tags' prevalence
            self.health.prevalence = {s: self._prevalence(s) for s in ("val", "test")}
        self.callbacks = list(callbacks)
        if self.cfg.early_stop:
            self.callbacks.append(EarlyStopping(self.cfg.early_stop, self.cfg.select, self.cfg.min_delta))
        self.notes = list(plan.notes)  # said once at the start, kept in summary.json
        self.task = make_task(self.splits, self.device, plan.batch_size, self.cfg.workers,
                              channels_last=plan.channels_last, order=self.sample_order, sampling=self.cfg.sampling)
        self.has_test = plan.has_test
        self._regularizers()
        self.steps_per_epoch = self.task.steps_per_epoch()
        self.optimizer = build_optimizer(self.model, self.cfg, plan.param_groups)
        self.schedule = Schedule(self.optimizer, self.cfg, self.steps_per_epoch)
        # one precision path: the scaler is a no-op unless fp16 (as nanoGPT's GradScaler(enabled=...))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.cfg.amp == "fp16")
        # what the outputs mean (objectives.py): the loss, the decoding to the user's units, the metrics
        self.objective = make_objective(self.splits.task, self.splits.class_names, self.splits.meta, plan.class_weights,
                                        self.cfg.label_smoothing, self.cfg.loss or "auto")
        self.criterion = self.objective.loss  # the training loss a step calls (a test may wrap it)
        self.metric_names = TASK_METRICS[self.splits.task]
        self._val_thresholds: list[float] | None = None  # multilabel: the last validation's per-tag thresholds
        self.amp_dtype = plan.amp_dtype
        self.init_report = plan.init_report
        self.progress = Progress()
        if plan.resume_from is not None:
            self.progress = restore(read_checkpoint(plan.resume_from), self.model, self.optimizer, self.schedule,
                                    self.scaler, self.ema)
            if self.dist.enabled:  # every rank has read last.pt before rank 0 may overwrite it
                distributed.barrier()
        self.start_epoch = self.progress.epoch
        # self.model stays the bare module (checkpoints hold its state_dict, no "module." prefix)
        wrapped = distributed.wrap(self.model, self.dist, self.device, bool(self.cfg.sync_bn))
        self.forward_model = torch.compile(wrapped) if self.cfg.compile else wrapped
        self.sinks: list[Sink] = (file_sinks(self.out) if is_main_process() else []) + list(sinks or [])
        self.stopping = Stopping(self.cfg.epochs)
        self._owns_group = plan.owns_group

    # ---- what callers may call -------------------------------------------------------------------

    def request_stop(self, early: bool = True) -> None:
        """End the run after the current epoch (a callback's early stop: the summary says early_stopped, not stopped)."""
        self.stopping.request(early)

    @property
    def best(self) -> dict[str, Any]:
        """The best epoch so far and its metrics."""
        return self.progress.best

    @property
    def history(self) -> list[dict[str, Any]]:
        """The metrics.jsonl rows of the finished epochs."""
        return self.progress.history

    def labels(self, split: str) -> torch.Tensor:
        """Every sample's class in a split, in sample order (the masked nodes' for one graph), on the CPU."""
        return self.splits.labels(split)

    def class_counts(self, split: str) -> list[int]:
        """Samples per class in a split (nodes for one graph), from the labels alone."""
        return self.splits.class_counts(split)

    def _prevalence(self, split: str) -> float | None:
        """Multi-label: the mean over tags of the positives' share of the present labels in a split."""
        if not self.splits.has(split) or not self.splits.count(split):
            return None
        y = self.splits.labels(split)
        present = ~torch.isnan(y)
        shares = ((y == 1) & present).sum(0) / present.sum(0).clamp(min=1)
        keep = present.any(0) & (shares > 0)
        return float(shares[keep].mean()) if bool(keep.any()) else None

    def sample_order(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The training samples this rank visits in one epoch: its slice of every global batch of one global order.

        The order, a permutation (or with --sampler balanced n class-balanced draws with replacement), is
        reseeded from (seed, epoch) each epoch, as DistributedSampler.set_epoch does.
        """
        order = shuffled(n, generator) if self._train_labels is None else balanced_order(self._train_labels, generator)
        return distributed.shard(order, self.dist, self.task.batch_size)

    def _regularizers(self) -> None:
        """Build what --ema, --sampler and --mixup/--cutmix turn on (the plan checked them and said so)."""
        cfg = self.cfg
        # the bare model's average, made before a resume loads it and before DDP wraps the model
        self.ema = make_ema(self.model, cfg.ema) if cfg.ema is not None else None
        self._train_labels = self.labels("train") if cfg.sampler == "balanced" else None
        self.task.mix = make_mix(cfg.mixup, cfg.cutmix, self.splits.num_classes)

    # ---- the loop ----------------------------------------------------------------------------

    def _emit(self, rec: dict[str, Any]) -> dict[str, Any]:
        for sink in self.sinks:
            sink.write(rec)
        return rec

    def autocast(self) -> contextlib.AbstractContextManager:
        """The run's autocast context (--amp) for training steps and bf16 validation: bf16/fp16, or nothing for fp32."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _train_mode(self) -> None:
        self.model.train()
        if self.cfg.freeze_backbone:
            # a frozen backbone keeps its BatchNorm statistics too; only the head learns
            self.model.eval()
            self.model.fc.train()

    def run(self, stop: threading.Event | None = None) -> Iterator[dict[str, Any]]:
        """Train, yielding records; set `stop` to end after the current step (last.pt keeps the last finished epoch)."""
        self.stopping.use(stop)  # a caller's stop (the app's button, a signal) and the callbacks' share one event
        t_run = time.monotonic()
        cfg = self.cfg
        if is_main_process():
            try:
                self.out.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise UserError(f"cannot create --out {str(self.out)!r}: {e.strerror or e}") from None
            remove_stale_temps(self.out)
        self.checkpoints = CheckpointWriter(self.out, self.sinks, self.checkpoint_interval_s)
        # the task's per-run caches (a full-batch graph's normalised adjacency); not under autocast, where the
        # first forward would cache it in the low precision that the fp32 test pass would then reuse
        session = self.task.session(self.model) if self.amp_dtype is None else contextlib.nullcontext()
        session.__enter__()
        try:
            start = self._emit(self._start_record())
            self.health.replay(start["history"])
            for c in self.callbacks:
                c.on_start(self, start)
            yield start
            self._steps_done = 0
            self._steps_total = (cfg.epochs - self.start_epoch) * self.steps_per_epoch
            for epoch in range(self.start_epoch + 1, cfg.epochs + 1):
                rec = yield from self._train_epoch(epoch, t_run)
                if rec is None:
                    self.stopping.interrupted()
                    break
                self._emit(rec)  # metrics.jsonl first: a kill before last.pt just redoes this epoch on resume
                self.progress.history.append(epoch_row(rec))
                self._save(epoch, rec, t_run)
                self.health.observe(rec)
                for c in self.callbacks:
                    c.on_epoch_end(self, rec)
                yield rec
                if self.stopping.done(epoch, self._asked_anywhere()):
                    break
            self.checkpoints.flush()
            if self.dist.enabled:  # the other ranks wait for rank 0's best.pt before their test pass reads it
                distributed.barrier()
            end = self._emit(self._finish(t_run))
            for c in self.callbacks:
                c.on_end(self, end)
            yield end
        finally:
            session.__exit__(None, None, None)
            if self._owns_group:
                self._owns_group = False
                distributed.teardown()
            if self.checkpoints.pending:
                # the consumer closed the generator or an error escaped: finished epochs are still kept
                with contextlib.suppress(Exception):
                    self.checkpoints.flush()
            for sink in self.sinks:
                sink.close()

    def run_to_end(self, stop: threading.Event | None = None) -> dict[str, Any]:
        """Train to the end (or a stop) with the records going to the sinks only; returns the summary (the "end" record)."""
        end: dict[str, Any] = {}
        for end in self.run(stop):
            pass
        return end

    def _start_record(self) -> StartRecord:
        params = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        return {"type": "start", "config": self.cfg.to_dict(), "parameters": params, "trainable_parameters": trainable,
                "num_classes": self.splits.num_classes, "class_names": list(self.splits.class_names),
                "steps_per_epoch": self.steps_per_epoch, "epochs": self.cfg.epochs, "start_epoch": self.start_epoch,
                "samples": {s: self.task.size(s) if self.task.has(s) else 0 for s in ("train", "val", "test")},
                "device": str(self.device), "precision": self.plan.precision,
                "history": [dict(r) for r in self.history], "out": str(self.out), "notes": list(self.notes)}

    def _train_epoch(self, epoch: int, t_run: float) -> Iterator[dict[str, Any]]:
        cfg, model, opt = self.cfg, self.forward_model, self.optimizer
        order, aug = epoch_generators(cfg.seed, epoch, self.dist.rank, self.device, self.task.kind == "samples")
        self._train_mode()
        t0 = time.monotonic()
        last_emit = 0.0
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen = 0
        params = [p for g in opt.param_groups for p in g["params"]]
        for step, batch in enumerate(self.task.batches("train", order), 1):
            if self.stopping.asked() and not self.dist.enabled:
                return None
            with self.autocast():
                logits, y, target = self.task.train_forward(model, batch, generator=aug)
            if logits.ndim != 2 or logits.shape[1] != self.splits.num_classes:
                # a user's model of another width would fail deep in the loss (or, wider, train silently)
                what = {"classify": "classes", "regress": "targets", "multilabel": "tags"}[self.splits.task]
                raise UserError(f"{self.plan.model_spec.cls} outputs shape {tuple(logits.shape)} for a batch of "
                                f"{len(y)}; the data has {self.splits.num_classes} {what}, so it must output "
                                f"({len(y)}, {self.splits.num_classes})")
            loss = self.criterion(logits.float(), target)
            finite = bool(torch.isfinite(loss))
            if self.dist.enabled:
                # DDP's backward is a collective: every rank must stop or skip at the same step (one reduce)
                stopping, nonfinite = distributed.any_rank([self.stopping.asked(), not finite], self.device)
                if stopping:
                    return None
                finite = not nonfinite
            if not finite:
                if cfg.on_nonfinite == "stop":
                    raise UserError(f"non-finite loss at epoch {epoch} step {step}; lower --lr, add --clip-grad, "
                                    "or pass on_nonfinite: skip (checkpoints keep the last finite epoch)")
                self.progress.skipped_steps += 1
                opt.zero_grad(set_to_none=True)
                continue
            opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()  # scale, unscale_ and step pass through unless fp16
            if cfg.clip_grad:
                self.scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad)
            self.scaler.step(opt)
            self.scaler.update()
            self.schedule.step_batch()
            if self.ema is not None:
                self.ema.update_parameters(self.model)
            n = len(y)  # samples, not their targets or tags
            seen += n
            loss_sum += loss.detach() * n
            right = self.objective.correct(logits, y)
            if right is not None:
                correct += right
            self._steps_done += 1
            now = time.monotonic()
            if now - last_emit >= STEP_INTERVAL_S:
                last_emit = now
                per_step = (now - t_run) / self._steps_done
                yield self._emit({"type": "step", "epoch": epoch, "step": step,
                                  "steps_per_epoch": self.steps_per_epoch, "loss": loss_sum.item() / seen,
                                  "samples_per_s": seen / max(now - t0, 1e-9),
                                  "eta_s": per_step * (self._steps_total - self._steps_done)})
        # sums and counts over every rank, so each rank computes the same row as one process would
        loss_total, correct_total, seen = loss_sum.item(), correct.item(), seen
        if self.dist.enabled:
            loss_total, correct_total, seen = distributed.all_sum([loss_total, float(correct_total), float(seen)],
                                                                  self.device)
            # BatchNorm statistics drift apart per rank within a step; evaluate and save rank 0's
            distributed.sync_buffers(self.model)
            if self.ema is not None:  # its buffers average each rank's own statistics: keep rank 0's too
                distributed.sync_buffers(self.ema)
        if seen == 0:
            raise UserError(f"epoch {epoch} trained on no batch (every step skipped as non-finite)")
        train_time = time.monotonic() - t0
        train_loss = loss_total / seen
        # without a validation split the epoch's running training loss drives the plateau schedule (as Keras's
        # ReduceLROnPlateau on "loss" in Fawaz et al.) and the choice of the best epoch
        val = self.evaluate("val") if self.selects_on_val else no_metrics(self.splits.task)
        self._val_thresholds = val.get("thresholds")
        self.schedule.step_epoch(val["loss"] if self.selects_on_val else train_loss)
        rec: EpochRecord = {"type": "epoch", "epoch": epoch, "lr": opt.param_groups[0]["lr"],
                "train_loss": train_loss, "train_acc": correct_total / seen if self.splits.task == "classify" else None,
                "val_loss": val["loss"], "val_acc": val["acc"],
                **{f"val_{k}": val[k] for k in self.metric_names}, "seconds": time.monotonic() - t0,
                "samples_per_s": seen / max(train_time, 1e-9)}
        return rec

    def evaluate(self, split: str, thresholds: list[float] | None = None) -> dict[str, Any]:
        """The task's loss (no label smoothing) and metrics over a split (objectives.py, metrics.py).

        Multi-label F1 is taken at `thresholds`; on the validation split without them, at the per-tag
        thresholds that are best on it (kept with the best epoch, and used on the test split).
        """
        # under DDP every rank scores the whole split (evaluation batches are not sharded) with the bare model:
        # no collectives, and every metric, macro F1 and AUROC included, is that of all the split's
        # predictions, as one process would compute it (sharded per-rank values could not be averaged)
        model = self.ema.module if self.ema is not None else self.model if self.dist.enabled else self.forward_model
        # validation runs every epoch in bf16 when training does (as Lightning and timm validate): in fp32 it
        # cost 2-2.4x the time. Not in fp16, whose overflow would end the run at _save's finite check where a
        # training step is only skipped. The test split, evaluate and predict score in fp32 (predict_split)
        with self.autocast() if split == "val" and self.amp_dtype is torch.bfloat16 else contextlib.nullcontext():
            logits, targets = predict_split(model, self.task, split)
        if self.splits.task == "multilabel" and thresholds is None and split == "val":
            thresholds = choose_thresholds(self.objective.decode(logits), targets)
        if self.splits.task == "classify" and split == "val" and not self._watches("val_auroc"):
            # an epoch's validation AUROC (most of the metrics' cost) only where --select or a callback (a sweep's
            # pruner, early stopping) watches it: the epoch rows hold None for it otherwise; the test's is always scored
            return self.objective.metrics(logits, targets, thresholds, auroc=False)
        return self.objective.metrics(logits, targets, thresholds)

    def _watches(self, key: str) -> bool:
        """Whether --select or a callback reads this key of the epoch records (EarlyStopping's select, Pruning's metric)."""
        names = [self.cfg.select]
        for c in self.callbacks:
            for attr in ("select", "metric"):
                value = getattr(c, attr, None)
                names += [value] if isinstance(value, str) else list(value or ())
        return any(monitored(n) == key if n in MONITORED else n == key for n in names)

    def _asked_anywhere(self) -> bool:
        """Whether a stop was asked on any rank (all ranks must agree to leave the loop together)."""
        if not self.dist.enabled:
            return self.stopping.asked()
        return distributed.any_rank([self.stopping.asked()], self.device)[0]

    def _improves(self, rec: dict[str, Any]) -> bool:
        """Whether an epoch beats the best so far under --select (selection.py; ties on accuracy: lower loss)."""
        return improves(rec, self.best if self.best["epoch"] is not None else None, self.cfg.select)

    def _save(self, epoch: int, rec: dict[str, Any], t_run: float) -> None:
        watched = rec["val_loss"] if self.selects_on_val else rec["train_loss"]
        if not (math.isfinite(watched) and all(bool(torch.isfinite(p).all()) for p in self.model.parameters())):
            raise UserError(f"non-finite weights or {'validation' if self.selects_on_val else 'training'} loss after "
                            f"epoch {epoch}; checkpoints keep the last finite epoch (lower --lr or add --clip-grad)")
        improved = self._improves(rec)
        self.progress.epoch = epoch
        if improved:
            self.progress.best = {"epoch": epoch, "val_acc": rec["val_acc"], "val_loss": rec["val_loss"],
                                  "train_loss": rec["train_loss"],
                                  **{k: rec[k] for k in (monitored(self.cfg.select),) if k in rec},
                                  **({"thresholds": self._val_thresholds} if self._val_thresholds else {})}
        if not is_main_process():
            return
        state = checkpoint_state(self.plan, self.optimizer, self.schedule, self.scaler, self.progress,
                                 self.progress.elapsed + time.monotonic() - t_run, self.ema)
        self.checkpoints.queue(snapshot(state), best=improved)

    def _finish(self, t_run: float) -> EndRecord:
        test = no_metrics(self.splits.task)
        best_path = self.out / "best.pt"
        if self.best["epoch"] is not None and best_path.is_file() and self.has_test:
            # best.pt's "model" is what evaluate() scores: the --ema average when on
            best_weights = read_checkpoint(best_path)["model"]
            if self.ema is not None:
                self.ema.module.load_state_dict(best_weights)
            # the model object (fit's, the app's confusion matrix) ends holding best.pt's weights, EMA or not
            self.model.load_state_dict(best_weights)
            test = self.evaluate("test", self.best.get("thresholds"))
        chosen = self.best["epoch"] is not None
        warnings = self.health.verdict(test["acc"], self.class_counts("test") if test["acc"] is not None else None,
                                       test.get("balanced_accuracy"), test=test)
        return {"type": "end", "best_epoch": self.best["epoch"], "select": self.cfg.select,
                "best_val_acc": self.best["val_acc"] if chosen else None,
                "best_val_loss": self.best["val_loss"] if chosen else None,
                # checkpoints from before --select keep no train_loss in "best"
                "best_train_loss": self.best.get("train_loss") if chosen else None,
                # the kept epoch's value of the --select metric (best_val_rmse, best_val_map, ...)
                **{f"best_{k}": self.best.get(k) for k in (monitored(self.cfg.select),)
                   if k not in ("val_acc", "val_loss", "train_loss")},
                "test_accuracy": test["acc"], "test_loss": test["loss"],
                **{f"test_{k}": test[k] for k in self.metric_names}, "test_per_class": test["per_class"],
                "task": self.splits.task, **({"thresholds": self.best["thresholds"]} if self.best.get("thresholds") else {}),
                "parameters": sum(p.numel() for p in self.model.parameters()),
                "wall_seconds": self.progress.elapsed + time.monotonic() - t_run, "dataset": self.splits.name,
                "model": self.cfg.model, "domain": self.cfg.domain, "epochs": len(self.history),
                "skipped_steps": self.progress.skipped_steps, "out": str(self.out), **self.stopping.summary(self.callbacks, len(self.history)),
                **({"notes": list(self.notes)} if self.notes else {}),
                "warnings": warnings}


def train(config: TrainConfig | Plan, stop: threading.Event | None = None, sinks: list[Sink] | None = None,
          callbacks: Sequence[Callback] = ()) -> dict[str, Any]:
    """Run a whole training and return the summary (the "end" record)."""
    return Trainer(config, sinks=sinks, callbacks=callbacks).run_to_end(stop)

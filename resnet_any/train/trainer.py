"""The one training loop, shared by every domain, the CLI and the Gradio app: a generator of plain-dict records."""
from __future__ import annotations

import contextlib
import io
import json
import math
import random
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from resnet_any.errors import UserError
from resnet_any.train import distributed, recipes
from resnet_any.train.checkpoint import (FORMAT, VERSION, atomic_write, init_from, is_resnet_any, read_checkpoint,
                                         remove_stale_temps)
from resnet_any.train.config import TrainConfig, check_out, validate
from resnet_any.train.optim import Schedule, build_optimizer
from resnet_any.train.sinks import Sink, epoch_row, file_sinks
from resnet_any.train.tasks import make_task, predict_split, shuffled, split_metrics

# Options that may differ when continuing a run: they change how it runs, not what it computes.
RESUME_MUTABLE = {"epochs", "device", "amp", "quiet", "workers", "compile", "channels_last", "out", "resume",
                  "data_dir", "cache_dir", "on_nonfinite", "init"}
# Datasets are split with one fixed seed so runs with different --seed are scored on the same test set.
SPLIT_SEED = 0
STEP_INTERVAL_S = 0.1


def is_main_process() -> bool:
    """Only rank 0 writes files and prints, so every write goes through a check of this."""
    return distributed.from_env().is_main


def pick_device(name: str) -> torch.device:
    """Resolve auto|cpu|cuda[:N]|mps to a device that exists, or raise a UserError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {name} but no CUDA device is available; use --device cpu or auto")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"--device {name} but only {torch.cuda.device_count()} CUDA device(s) exist")
        return dev
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("--device mps but MPS is not available; use --device cpu or auto")
    return torch.device(name)


def _plain(obj: Any) -> Any:
    """JSON-able copy (numpy scalars, tuples, paths -> plain types) so weights_only loading accepts it."""
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def rng_states() -> dict[str, Any]:
    """Every RNG the loop may touch, in weights_only-loadable form."""
    np_state = np.random.get_state()
    states = {"torch": torch.get_rng_state(), "python": random.getstate(),
              "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                        "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what rng_states() saved."""
    torch.set_rng_state(states["torch"])
    random.setstate(tuple(tuple(s) if isinstance(s, list) else s for s in states["python"]))
    n = states["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and random."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def default_out(domain: str) -> Path:
    """runs/<domain>-<timestamp>, suffixed when that exists."""
    base = Path("runs") / f"{domain}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return out


def check_model_domain(model: str, domain: str) -> None:
    """Raise a UserError unless `model` is a registered model of `domain` (listing those that are)."""
    from resnet_any.core.registry import list_models, model_domain

    if model_domain(model) != domain:
        raise UserError(f"model {model!r} is a {model_domain(model)} model, not {domain}; "
                        f"valid: {', '.join(list_models(domain))}")


class Trainer:
    """Builds data, model, task and optimizer from a TrainConfig; `run()` trains and yields records.

    All validation happens in __init__, before anything is written, so a bad option never damages
    an existing run directory. Records: "start", "step" (throttled to ~10/s), "epoch" (the
    metrics.jsonl row), "end" (summary.json plus out and stopped).
    """

    # Checkpoints of finished epochs are written at most this often (and always at the end or a
    # stop): fsync costs tens of ms, too much every epoch of a 0.05 s Cora epoch. A SIGKILL loses at
    # most this much work, which --resume redoes identically.
    checkpoint_interval_s = 10.0

    def __init__(self, config: TrainConfig, sinks: list[Sink] | None = None) -> None:
        validate(config)
        check_out(config)
        cfg = config
        self.resume_ckpt: dict[str, Any] | None = None
        if cfg.resume:
            cfg = self._resume_config(cfg)
        domain = recipes.check_domain(cfg.domain)
        self.out = Path(cfg.out) if cfg.out else default_out(domain)
        # cheap checks before the (slow) data load, so a typo fails at once
        self.device = pick_device(cfg.device or "auto")
        self.dist = distributed.from_env()
        if cfg.amp == "fp16" and self.device.type != "cuda":
            raise UserError(f"--amp fp16 needs a CUDA device (this run is on {self.device.type}); use --amp bf16 or off")
        if cfg.amp == "bf16" and self.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise UserError("--amp bf16 is not supported by this GPU; use --amp fp16")
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp or "off")
        if cfg.model is not None:
            check_model_domain(cfg.model, domain)

        from resnet_any.data import load_dataset

        self.splits = load_dataset(domain, cfg.dataset, cfg.data_dir, seed=SPLIT_SEED,
                                   val_fraction=cfg.val_fraction if cfg.val_fraction is not None else 0.2,
                                   image_size=cfg.image_size, cache_dir=cfg.cache_dir)
        # select train_loss: nothing is held out, the epoch is chosen on training loss instead
        self.selects_on_val = cfg.select != "train_loss"  # read before recipes.resolve fills the default "val"
        if not self.selects_on_val:
            self.splits = self.splits.without_validation()
        if self.splits.num_classes < 2:
            # one class makes every prediction right and the loss zero: a run that learns nothing, silently
            raise UserError(f"dataset {self.splits.name!r} has only one class ({', '.join(map(str, self.splits.class_names))}); "
                            "a classifier needs at least two")
        size = self.splits.meta.get("image_size")
        cfg = recipes.resolve(cfg, self.splits.task, self.splits.name,
                              max(size) if isinstance(size, (list, tuple)) else size)
        cfg.out = str(self.out)
        validate(cfg)
        self.cfg = cfg
        self._setup_distributed()

        self.model = self._build_model()
        self.task = make_task(self.splits, self.device, self._batch_size(), cfg.workers,
                              channels_last=cfg.channels_last and domain == "image", order=self.sample_order)
        for split in ("train", "val", "test") if self.selects_on_val else ("train", "test"):
            if self.task.size(split) == 0:
                raise UserError(f"dataset {self.splits.name!r} has an empty {split} split")
        self.steps_per_epoch = self.task.steps_per_epoch()
        self.optimizer = build_optimizer(self.model, cfg)
        self.schedule = Schedule(self.optimizer, cfg, self.steps_per_epoch)
        self.scaler = torch.amp.GradScaler("cuda") if cfg.amp == "fp16" else None
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

        self.start_epoch = 0
        self.best = {"epoch": None, "val_acc": -1.0, "val_loss": float("inf"), "train_loss": float("inf")}
        self.history: list[dict[str, Any]] = []
        self.elapsed = 0.0
        self.skipped_steps = 0
        if self.resume_ckpt is not None:
            self._restore(self.resume_ckpt)
            self.resume_ckpt = None  # the tensors now live in the model/optimizer; free the copy
            if self.dist.enabled:  # every rank has read last.pt before rank 0 may overwrite it
                distributed.barrier()
        # self.model stays the bare module (checkpoints hold its state_dict, no "module." prefix)
        wrapped = distributed.wrap(self.model, self.dist, self.device, bool(cfg.sync_bn))
        self.forward_model = torch.compile(wrapped) if cfg.compile else wrapped
        self.sinks: list[Sink] = (file_sinks(self.out) if is_main_process() else []) + list(sinks or [])

    # ---- setup -------------------------------------------------------------------------------

    def sample_order(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The training samples this rank visits in one epoch: its slice of every global batch of one permutation.

        The permutation is reseeded from (seed, epoch) each epoch, as DistributedSampler.set_epoch does.
        """
        return distributed.shard(shuffled(n, generator), self.dist, self.task.batch_size)

    def _setup_distributed(self) -> None:
        """Under torchrun: check the global batch divides, then join the process group (one process: nothing)."""
        info, cfg = self.dist, self.cfg
        if not info.enabled:
            return
        if self.splits.task == "node":
            # one graph in one full batch: there is nothing to split, and copies on every rank would only
            # repeat the same step, so rank 0 trains alone and the others leave before joining a group
            if not info.is_main:
                raise distributed.NotThisRank
            print(f"note: full-batch node classification ({self.splits.name}) runs in one process: rank 0 trains "
                  f"alone, the other {info.world_size - 1} rank(s) exit", file=sys.stderr)
            self.dist = distributed.DistInfo()
            return
        if cfg.batch_size % info.world_size:
            raise UserError(f"--batch-size {cfg.batch_size} is the global batch and must divide by the "
                            f"{info.world_size} processes (each takes batch/{info.world_size})")
        if cfg.sync_bn and self.device.type == "cpu":
            raise UserError("--sync-bn needs GPUs (torch's SyncBatchNorm does not run on CPU); drop it for CPU runs")
        self._owns_group = not torch.distributed.is_initialized()
        self.device = distributed.setup(info, self.device)

    def _resume_config(self, cfg: TrainConfig) -> TrainConfig:
        path = Path(cfg.out) / "last.pt"
        ckpt = read_checkpoint(path)
        if not is_resnet_any(ckpt):
            raise UserError(f"--resume: {str(path)!r} is not a resnet_any checkpoint")
        saved = TrainConfig.from_dict(ckpt["config"], source=f"config in {str(path)!r}")
        for key, value in cfg.explicit().items():
            if key in RESUME_MUTABLE:
                continue
            old = getattr(saved, key)
            same = (value.lower() == str(old).lower() if key == "dataset" else
                    all(old.get(k) == v for k, v in value.items()) if key == "model_kwargs" and isinstance(old, dict)
                    else value == old)
            if not same:
                raise UserError(f"--{key.replace('_', '-')} cannot change on --resume (the run in {cfg.out} "
                                f"used {old!r}); start a fresh run with another --out instead")
        self.resume_ckpt = ckpt
        return saved.merged({k: v for k, v in cfg.explicit().items() if k in RESUME_MUTABLE and k != "init"})

    def _batch_size(self) -> int:
        """This process's batch: the global --batch-size divided by the number of processes."""
        n = len(self.splits.train) if self.splits.train is not None else 0
        bs, world = self.cfg.batch_size, self.dist.world_size
        # a batch larger than the training set would make every epoch one short batch: say so, then clamp
        if self.splits.task != "node" and 0 < n < bs:
            n = max(world, n - n % world)  # the ranks split it evenly
            if is_main_process():
                print(f"warning: --batch-size {bs} is larger than the {n} training samples; using {n}",
                      file=sys.stderr)
            return n // world
        return bs // world

    def _build_model(self) -> nn.Module:
        from resnet_any.core.registry import create_model

        cfg, splits = self.cfg, self.splits
        check_model_domain(cfg.model, cfg.domain)
        self.model_kwargs = {**cfg.model_kwargs, "num_classes": splits.num_classes,
                             "in_channels": splits.in_channels}
        seed_everything(cfg.seed)
        model = create_model(cfg.model, **self.model_kwargs)
        if not isinstance(getattr(model, "fc", None), nn.Linear):
            raise UserError(f"model {cfg.model!r} has no `fc` classifier; cannot train it here")
        if cfg.init and not cfg.resume:
            self.init_report = init_from(model, cfg.init)
        if cfg.freeze_backbone:
            for p in model.parameters():
                p.requires_grad_(False)
            for p in model.fc.parameters():
                p.requires_grad_(True)
        model.to(self.device)
        if cfg.channels_last and cfg.domain == "image":
            model.to(memory_format=torch.channels_last)
        return model

    def _restore(self, ckpt: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise UserError(f"--resume: last.pt does not fit this run: {' '.join(str(e).split())[:200]}") from None
        self.schedule.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.start_epoch = int(ckpt["epoch"])
        self.best = dict(ckpt["best"])
        self.history = [dict(r) for r in ckpt["history"]][: self.start_epoch]
        self.elapsed = float(ckpt.get("elapsed", 0.0))
        self.skipped_steps = int(ckpt.get("skipped_steps", 0))
        set_rng_states(ckpt["rng"])

    # ---- the loop ----------------------------------------------------------------------------

    def _emit(self, rec: dict[str, Any]) -> dict[str, Any]:
        for sink in self.sinks:
            sink.write(rec)
        return rec

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _epoch_generators(self, epoch: int) -> tuple[torch.Generator, torch.Generator | None]:
        # every RNG is re-derived from (seed, epoch) at each epoch start, so a resumed run replays
        # exactly what an uninterrupted one would, whatever happened to the global RNG in between
        base = self.cfg.seed * 1_000_003 + epoch
        # the sample order is shared by all ranks (each takes its shard); dropout and augmentation
        # differ per rank so shards are not perturbed alike (rank 0 draws what one process would)
        salt = 7_919 * self.dist.rank
        torch.manual_seed(base + salt)
        order = torch.Generator().manual_seed(base + 1)
        aug = None
        if self.task.kind == "classify":
            aug = torch.Generator(device=self.device).manual_seed(base + 2 + salt)
        return order, aug

    def _train_mode(self) -> None:
        self.model.train()
        if self.cfg.freeze_backbone:
            # a frozen backbone keeps its BatchNorm statistics too; only the head learns
            self.model.eval()
            self.model.fc.train()

    def run(self, stop: threading.Event | None = None) -> Iterator[dict[str, Any]]:
        """Train, yielding records; set `stop` to end after the current step (last.pt keeps the last finished epoch)."""
        stop = stop or threading.Event()
        t_run = time.monotonic()
        cfg = self.cfg
        if is_main_process():
            try:
                self.out.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise UserError(f"cannot create --out {str(self.out)!r}: {e.strerror or e}") from None
            remove_stale_temps(self.out)
        stopped = False
        self._pending: dict[str, bytes] = {}
        # the first finished epoch is checkpointed at once: until last.pt exists a kill leaves nothing to resume
        self._last_write = -math.inf
        try:
            yield self._emit(self._start_record())
            self._steps_done = 0
            self._steps_total = (cfg.epochs - self.start_epoch) * self.steps_per_epoch
            for epoch in range(self.start_epoch + 1, cfg.epochs + 1):
                rec = yield from self._train_epoch(epoch, stop, t_run)
                if rec is None:
                    stopped = True
                    break
                self._emit(rec)  # metrics.jsonl first: a kill before last.pt just redoes this epoch on resume
                self.history.append(epoch_row(rec))
                self._save(epoch, rec, t_run)
                yield rec
                if self._stop_everywhere(stop) and epoch < cfg.epochs:
                    stopped = True
                    break
            self._flush_checkpoints()
            if self.dist.enabled:  # the other ranks wait for rank 0's best.pt before their test pass reads it
                distributed.barrier()
            yield self._emit(self._finish(stopped, t_run))
        finally:
            if getattr(self, "_owns_group", False):
                self._owns_group = False
                distributed.teardown()
            if self._pending:
                # the consumer closed the generator or an error escaped: finished epochs are still kept
                with contextlib.suppress(Exception):
                    self._flush_checkpoints()
            for sink in self.sinks:
                sink.close()

    def _start_record(self) -> dict[str, Any]:
        params = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        return {"type": "start", "config": self.cfg.to_dict(), "parameters": params, "trainable_parameters": trainable,
                "num_classes": self.splits.num_classes, "class_names": list(self.splits.class_names),
                "steps_per_epoch": self.steps_per_epoch, "epochs": self.cfg.epochs, "start_epoch": self.start_epoch,
                "samples": {s: self.task.size(s) for s in ("train", "val", "test")}, "device": str(self.device),
                "history": [dict(r) for r in self.history], "out": str(self.out)}

    def _train_epoch(self, epoch: int, stop: threading.Event, t_run: float) -> Iterator[dict[str, Any]]:
        cfg, model, opt = self.cfg, self.forward_model, self.optimizer
        order, aug = self._epoch_generators(epoch)
        self._train_mode()
        t0 = time.monotonic()
        last_emit = 0.0
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen = 0
        params = [p for g in opt.param_groups for p in g["params"]]
        for step, batch in enumerate(self.task.batches("train", order), 1):
            if stop.is_set() and not self.dist.enabled:
                return None
            with self._autocast():
                logits, y = self.task.forward(model, batch, train=True, generator=aug)
            loss = self.criterion(logits.float(), y)
            finite = bool(torch.isfinite(loss))
            if self.dist.enabled:
                # DDP's backward is a collective: every rank must stop or skip at the same step (one reduce)
                stopping, nonfinite = distributed.any_rank([stop.is_set(), not finite], self.device)
                if stopping:
                    return None
                finite = not nonfinite
            if not finite:
                if cfg.on_nonfinite == "stop":
                    raise UserError(f"non-finite loss at epoch {epoch} step {step}; lower --lr, add --clip-grad, "
                                    "or pass on_nonfinite: skip (checkpoints keep the last finite epoch)")
                self.skipped_steps += 1
                opt.zero_grad(set_to_none=True)
                continue
            opt.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                if cfg.clip_grad:
                    self.scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad)
                self.scaler.step(opt)
                self.scaler.update()
            else:
                loss.backward()
                if cfg.clip_grad:
                    torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad)
                opt.step()
            self.schedule.step_batch()
            n = y.numel()
            seen += n
            loss_sum += loss.detach() * n
            correct += (logits.detach().argmax(1) == y).sum()
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
        if seen == 0:
            raise UserError(f"epoch {epoch} trained on no batch (every step skipped as non-finite)")
        train_time = time.monotonic() - t0
        train_loss = loss_total / seen
        # without a validation split the epoch's running training loss drives the plateau schedule (as Keras's
        # ReduceLROnPlateau on "loss" in Fawaz et al.) and the choice of the best epoch
        val = self.evaluate("val") if self.selects_on_val else {"loss": None, "acc": None}
        self.schedule.step_epoch(val["loss"] if self.selects_on_val else train_loss)
        return {"type": "epoch", "epoch": epoch, "lr": opt.param_groups[0]["lr"],
                "train_loss": train_loss, "train_acc": correct_total / seen,
                "val_loss": val["loss"], "val_acc": val["acc"], "seconds": time.monotonic() - t0,
                "samples_per_s": seen / max(train_time, 1e-9)}

    def evaluate(self, split: str) -> dict[str, float]:
        """Plain cross-entropy (no label smoothing) and accuracy over a split."""
        # under DDP every rank scores the whole split with the bare model: no collectives, same numbers
        model = self.model if self.dist.enabled else self.forward_model
        return split_metrics(*predict_split(model, self.task, split, self._autocast))

    def _stop_everywhere(self, stop: threading.Event) -> bool:
        """Whether a stop was asked on any rank (all ranks must agree to leave the loop together)."""
        if not self.dist.enabled:
            return stop.is_set()
        return distributed.any_rank([stop.is_set()], self.device)[0]

    def _state(self, epoch: int, t_run: float) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "model_name": self.cfg.model,
                "model_kwargs": _plain(self.model_kwargs), "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.schedule.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "epoch": epoch, "best": dict(self.best), "rng": rng_states(), "config": _plain(self.cfg.to_dict()),
                "class_names": [str(c) for c in self.splits.class_names], "num_classes": self.splits.num_classes,
                "domain": self.cfg.domain, "task": self.splits.task, "data": _plain(self.splits.meta),
                "history": [dict(r) for r in self.history], "elapsed": self.elapsed + time.monotonic() - t_run,
                "skipped_steps": self.skipped_steps}

    def _improves(self, rec: dict[str, Any]) -> bool:
        """Whether an epoch beats the best so far under --select."""
        if not self.selects_on_val:
            return rec["train_loss"] < self.best["train_loss"]
        # ties on accuracy go to the lower validation loss: small val sets saturate at 100% early
        return (rec["val_acc"], -rec["val_loss"]) > (self.best["val_acc"], -self.best["val_loss"])

    def _save(self, epoch: int, rec: dict[str, Any], t_run: float) -> None:
        watched = rec["val_loss"] if self.selects_on_val else rec["train_loss"]
        if not (math.isfinite(watched) and all(bool(torch.isfinite(p).all()) for p in self.model.parameters())):
            raise UserError(f"non-finite weights or {'validation' if self.selects_on_val else 'training'} loss after "
                            f"epoch {epoch}; checkpoints keep the last finite epoch (lower --lr or add --clip-grad)")
        improved = self._improves(rec)
        if improved:
            self.best = {"epoch": epoch, "val_acc": rec["val_acc"], "val_loss": rec["val_loss"],
                         "train_loss": rec["train_loss"]}
        if not is_main_process():
            return
        buf = io.BytesIO()
        torch.save(self._state(epoch, t_run), buf)
        data = buf.getvalue()
        if improved:
            self._pending["best.pt"] = data
        self._pending["last.pt"] = data
        if time.monotonic() - self._last_write >= self.checkpoint_interval_s:
            self._flush_checkpoints()

    def _flush_checkpoints(self) -> None:
        """Write the newest finished epoch's checkpoints, after making the sinks' rows for it durable."""
        if not self._pending:
            return
        for sink in self.sinks:
            sink.flush()
        # best.pt before last.pt: on disk, best.pt is never older than the best epoch last.pt records
        for name in ("best.pt", "last.pt"):
            if name in self._pending:
                data = self._pending.pop(name)
                atomic_write(self.out / name, lambda f: f.write(data))
        self._last_write = time.monotonic()

    def _finish(self, stopped: bool, t_run: float) -> dict[str, Any]:
        test = {"loss": None, "acc": None}
        best_path = self.out / "best.pt"
        if self.best["epoch"] is not None and best_path.is_file():
            self.model.load_state_dict(read_checkpoint(best_path)["model"])
            test = self.evaluate("test")
        chosen = self.best["epoch"] is not None
        return {"type": "end", "best_epoch": self.best["epoch"], "select": self.cfg.select,
                "best_val_acc": self.best["val_acc"] if chosen else None,
                "best_val_loss": self.best["val_loss"] if chosen else None,
                # checkpoints from before --select keep no train_loss in "best"
                "best_train_loss": self.best.get("train_loss") if chosen else None,
                "test_accuracy": test["acc"], "test_loss": test["loss"],
                "parameters": sum(p.numel() for p in self.model.parameters()),
                "wall_seconds": self.elapsed + time.monotonic() - t_run, "dataset": self.cfg.dataset,
                "model": self.cfg.model, "domain": self.cfg.domain, "epochs": len(self.history),
                "skipped_steps": self.skipped_steps, "out": str(self.out), "stopped": stopped}


def train(config: TrainConfig, stop: threading.Event | None = None, sinks: list[Sink] | None = None) -> dict[str, Any]:
    """Run a whole training and return the summary (the "end" record)."""
    rec: dict[str, Any] = {}
    for rec in Trainer(config, sinks=sinks).run(stop):
        pass
    return rec

"""What a checkpoint holds and how a run continues from it: RNG states, the loop's progress, save and restore."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from resnet_any.data.base import DataSplits
from resnet_any.errors import UserError
from resnet_any.files import FORMAT, VERSION

if TYPE_CHECKING:
    from resnet_any.train.plan.types import Plan


def plain(obj: Any) -> Any:
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


def epoch_generators(seed: int, epoch: int, rank: int, device: torch.device,
                     augments: bool) -> tuple[torch.Generator, torch.Generator | None]:
    """(sample order, augmentation) generators of one epoch, and the global RNG reseeded for dropout.

    Every RNG is re-derived from (seed, epoch) at each epoch start, so a resumed run replays exactly what
    an uninterrupted one would, whatever happened to the global RNG in between. The sample order is
    shared by all ranks (each takes its shard); dropout and augmentation differ per rank so shards are not
    perturbed alike (rank 0 draws what one process would).
    """
    base = seed * 1_000_003 + epoch
    salt = 7_919 * rank
    torch.manual_seed(base + salt)
    order = torch.Generator().manual_seed(base + 1)
    aug = torch.Generator(device=device).manual_seed(base + 2 + salt) if augments else None
    return order, aug


@dataclass
class Progress:
    """How far a run got: what the checkpoint carries besides weights and optimizer state."""

    epoch: int = 0
    best: dict[str, Any] = field(default_factory=lambda: {"epoch": None, "val_acc": -1.0, "val_loss": float("inf"),
                                                          "train_loss": float("inf")})
    history: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0
    skipped_steps: int = 0


def checkpoint_state(plan: Plan, optimizer: torch.optim.Optimizer, schedule: Any, scaler: Any,
                     progress: Progress, elapsed: float, ema: AveragedModel | None = None) -> dict[str, Any]:
    """Everything `last.pt`/`best.pt` hold: weights, optimizer, schedule, RNG, progress and how to rebuild the model.

    With --ema, "model" holds the averaged weights (what was evaluated and what evaluate, predict, export and
    --init load), "train_model" the raw ones and "ema_updates" the average's step count, for --resume.
    """
    spec = plan.model_spec
    state = {"format": FORMAT, "version": VERSION, "model_name": spec.name, "model_class": spec.cls,
             "model_kwargs": plain(spec.kwargs), "model": plan.model.state_dict(),
             "optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict(),
             "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
             "epoch": progress.epoch, "best": dict(progress.best), "rng": rng_states(),
             "config": plain(plan.config.to_dict()),
             "class_names": [str(c) for c in plan.splits.class_names], "num_classes": plan.splits.num_classes,
             "domain": plan.config.domain, "layout": plan.splits.layout, "task": plan.splits.task, "data": plain(plan.splits.meta),
             "split_sizes": split_sizes(plan.splits), "history": [dict(r) for r in progress.history], "elapsed": elapsed,
             "skipped_steps": progress.skipped_steps}
    if ema is not None:
        state.update(model=ema.module.state_dict(), train_model=plan.model.state_dict(),
                     ema_updates=int(ema.n_averaged))
    return state


def restore(ckpt: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer, schedule: Any,
            scaler: Any, ema: AveragedModel | None = None) -> Progress:
    """Load a checkpoint into the run's objects (the --ema average too) and RNGs; returns the progress to continue from."""
    try:
        model.load_state_dict(ckpt.get("train_model", ckpt["model"]))
        optimizer.load_state_dict(ckpt["optimizer"])
        if ema is not None:
            ema.module.load_state_dict(ckpt["model"])
            ema.n_averaged.fill_(int(ckpt["ema_updates"]))
    except (RuntimeError, ValueError, KeyError) as e:
        raise UserError(f"--resume: last.pt does not fit this run: {' '.join(str(e).split())[:200]}") from None
    schedule.load_state_dict(ckpt["scheduler"])
    if scaler is not None and scaler.is_enabled() and ckpt.get("scaler"):
        scaler.load_state_dict(ckpt["scaler"])
    epoch = int(ckpt["epoch"])
    progress = Progress(epoch=epoch, best=dict(ckpt["best"]), history=[dict(r) for r in ckpt["history"]][:epoch],
                        elapsed=float(ckpt.get("elapsed", 0.0)), skipped_steps=int(ckpt.get("skipped_steps", 0)))
    set_rng_states(ckpt["rng"])
    return progress


def split_sizes(splits: DataSplits) -> dict[str, int]:
    """Samples (nodes for one graph) per split: what a checkpoint records to recognise its data."""
    if splits.layout == "node":
        g = splits.graph
        return {k: int(g[f"{k}_mask"].sum()) if getattr(g, f"{k}_mask", None) is not None else 0
                for k in ("train", "val", "test")}
    return {k: len(getattr(splits, k)) if getattr(splits, k) is not None else 0 for k in ("train", "val", "test")}

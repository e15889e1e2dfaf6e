"""Optimizers (no weight decay on norms and biases) and learning-rate schedules stepped per batch."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn



def param_groups(model: nn.Module, weight_decay: float,
                 by_prefix: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Trainable parameters grouped by weight decay: none on norms and biases (ndim <= 1), else by name prefix."""
    by_prefix = by_prefix or {}
    # longest prefix first, so {"layer": a, "layer4": b} gives layer4.* b
    prefixes = sorted(by_prefix, key=len, reverse=True)
    groups: dict[float, list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decay = 0.0
        if p.ndim > 1:
            decay = next((float(by_prefix[k]) for k in prefixes if name.startswith(k)), weight_decay)
        groups.setdefault(decay, []).append(p)
    return [{"params": params, "weight_decay": decay} for decay, params in groups.items()]


def build_optimizer(model: nn.Module, cfg: Any, groups: list[dict[str, Any]] | None = None) -> torch.optim.Optimizer:
    """The optimizer the config names, over `groups` (a callback's) or the model's trainable parameters by decay."""
    if groups is None:
        groups = param_groups(model, cfg.weight_decay, cfg.weight_decay_by_prefix)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.AdamW(groups, lr=cfg.lr)


class Schedule:
    """A learning-rate schedule: `step_batch()` after every optimizer step, `step_epoch(val_loss)` after validation."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: Any, steps_per_epoch: int) -> None:
        self.kind = cfg.schedule
        total = max(1, cfg.epochs * steps_per_epoch)
        warmup = min(cfg.warmup_epochs * steps_per_epoch, total - 1)
        if self.kind == "onecycle":
            pct = warmup / total if warmup else 0.3
            self.sched = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=total,
                pct_start=min(max(pct, 1e-3), 0.99), cycle_momentum=cfg.optimizer == "sgd")
        elif self.kind == "plateau":
            self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=cfg.gamma,
                                                                    patience=cfg.patience)
        else:
            step_every = cfg.step_size * steps_per_epoch
            kind, gamma = self.kind, cfg.gamma

            # a plain function, not a lambda object, so LambdaLR.state_dict() stays weights_only-loadable
            def factor(t: int) -> float:
                if warmup and t < warmup:
                    return (t + 1) / (warmup + 1)
                if kind in ("cosine", "warmup_cosine"):
                    progress = (t - warmup) / max(1, total - warmup)
                    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
                if kind == "step":
                    return gamma ** (t // step_every)
                return 1.0

            self.sched = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    def step_batch(self) -> None:
        """Advance per-step schedules by one optimizer step."""
        if self.kind != "plateau":
            self.sched.step()

    def step_epoch(self, val_loss: float) -> None:
        """Let plateau react to the epoch's validation loss."""
        if self.kind == "plateau":
            self.sched.step(val_loss)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped scheduler's state."""
        return self.sched.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the wrapped scheduler's state."""
        self.sched.load_state_dict(state)

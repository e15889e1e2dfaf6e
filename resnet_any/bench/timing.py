"""The timing kit the speed and recipe benchmarks share: where to run, A/B rounds of step functions, their rows.

Its own file so that `bench speed` (which runs the recipe rows) and `bench recipe` (which times with the same
clock) both import it and neither imports the other.
"""
from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from resnet_any.bench.table import make_row, summary
from resnet_any.errors import UserError

GOAL_RATIO = 0.98


@dataclass
class Settings:
    """Resolved options of one speed run."""

    device: torch.device
    models: list[str]
    modes: list[str]
    variants: list[tuple[str, ...]]
    batch: int
    size: int
    rounds: int
    steps: int
    warmup: int
    clock: Callable[[], float] = time.perf_counter


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; a UserError for anything unusable."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise UserError(f"unknown --device {name!r}; valid: auto, cpu, cuda, cuda:N")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown --device {name!r}; valid: auto, cpu, cuda, cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name} asked for, but torch sees no CUDA device")
    return device


def sync(device: torch.device) -> None:
    """Wait for queued CUDA work, so a clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step(model: nn.Module, mode: str, x: torch.Tensor, y: torch.Tensor,
              flags: tuple[str, ...]) -> Callable[[], None]:
    """One training step (SGD, cross-entropy; fp16 with a GradScaler, as the Trainer) or one inference forward of
    `model` on a fixed batch."""
    device_type = x.device.type
    dtype = torch.bfloat16 if "bf16" in flags else torch.float16 if "fp16" in flags else None
    amp = torch.autocast(device_type, dtype=dtype) if dtype else contextlib.nullcontext()
    scaler = torch.amp.GradScaler(device_type) if "fp16" in flags and mode == "train" else None
    net = torch.compile(model) if "compile" in flags else model
    if mode == "forward":
        model.eval()

        def forward() -> None:
            with torch.inference_mode(), amp:
                net(x)
        return forward

    model.train()
    # torchvision's reference recipe: SGD, momentum 0.9, weight decay 1e-4 (small lr: numbers stay tame)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)

    def train() -> None:
        opt.zero_grad(set_to_none=True)
        with amp:
            loss = nn.functional.cross_entropy(net(x), y)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
    return train


def ab_rounds(steps_ab: dict[str, Callable[[], None]], s: Settings, samples: int) -> dict[str, list[float]]:
    """Time each step function `s.steps` times per round, alternating ABBA; samples/s per round."""
    names = list(steps_ab)
    for name in names:
        for _ in range(s.warmup):
            steps_ab[name]()
    sync(s.device)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(s.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            fn = steps_ab[name]
            sync(s.device)
            t = s.clock()
            for _ in range(s.steps):
                fn()
            sync(s.device)
            out[name].append(samples * s.steps / max(s.clock() - t, 1e-9))
    return out


def machine(device: torch.device) -> str:
    """A short description of where the figures were taken."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def load_average() -> float | None:
    """The 1-minute load average (None where the system has none): other jobs skew timings."""
    with contextlib.suppress(OSError, AttributeError):
        return round(os.getloadavg()[0], 2)
    return None


def pair_rows(case: str, ours: list[float], ref: list[float], *, ref_name: str = "torchvision",
              **extra) -> list[dict]:
    """A samples/s row (anchor: the reference, same run) and a ratio row (median of per-round ratios)."""
    ratios = [a / b for a, b in zip(ours, ref)]
    rs = summary(ratios)
    thr = make_row("speed", case, "samples_per_s", statistics.median(ours), statistics.median(ref), "samples/s",
                   note=f"anchor: {ref_name}, same run (medians)", values=[round(v, 2) for v in ours],
                   anchor_values=[round(v, 2) for v in ref], **extra)
    ratio = make_row("speed", case, "ratio", statistics.median(ratios), 1.0, "x", goal=GOAL_RATIO,
                     note=f"ours/{ref_name}, median of {len(ratios)} ABBA rounds", stat="median",
                     **rs, values=[round(v, 4) for v in ratios], **extra)
    return [thr, ratio]

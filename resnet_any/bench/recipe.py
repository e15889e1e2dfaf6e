"""The `recipe/...` rows of `bench speed`: our default training step against the tutorials' plain fp32 loop.

Speed: samples/s of one training step with the precision and memory format a default run picks on this
device (train/plan/hardware.py: bf16 autocast where the hardware computes bf16, channels_last for images) over
the same step in fp32 NCHW, on an identical copy of the model, same batch, alternating ABBA in one process.
Accuracy: the trainer's default run against the same run with `--amp off --no-channels-last`, on real data.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import tempfile
from typing import Callable

import torch
from torch import nn

from resnet_any.bench.timing import Settings, ab_rounds, machine, make_step, pair_rows
from resnet_any.bench.table import make_row
from resnet_any.train.plan import hardware

# (case, domain, model, model kwargs, input shape without the batch, batch); --quick shrinks the images
GRID_CASES = {
    "full": [("resnet18-32px", "image", "resnet18", dict(stem="cifar"), (3, 32, 32), 128),
             ("resnet18-224px", "image", "resnet18", {}, (3, 224, 224), 32),
             ("series_resnet-L150", "series", "series_resnet", {}, (1, 150), 16)],
    "quick": [("resnet18-32px", "image", "resnet18", dict(stem="cifar", width=16), (3, 32, 32), 32),
              ("resnet18-64px", "image", "resnet18", dict(width=16), (3, 64, 64), 8),
              ("series_resnet-L150", "series", "series_resnet", dict(width=16), (1, 150), 16)],
}
# the accuracy rows: a default run and its fp32 NCHW twin on real data, same seed and epochs
ACCURACY_CASES = {"full": [("image", "digits", {}), ("series", "GunPoint", {}), ("graph", "cora", {})],
                  "quick": [("image", "digits", {"epochs": 2})]}
GOAL = 2.0  # issue 15: resnet18 at 32 and 224 px on a CPU with native bf16


def flags_for(domain: str, device: torch.device) -> tuple[str, ...]:
    """The speed suite's flags for what a default run of `domain` uses on `device`."""
    return tuple(f for f, on in (("bf16", hardware.auto_amp(domain, device) == "bf16"),
                                 ("cl", hardware.auto_channels_last(domain))) if on)


def _grid_steps(model: nn.Module, shape: tuple[int, ...], batch: int, flags: tuple[str, ...],
                device: torch.device) -> dict[str, Callable[[], None]]:
    """The default step and the plain fp32 NCHW step, each on its own identical copy of `model`."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, *shape, generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    plain = copy.deepcopy(model).to(device)
    ours = model.to(device)
    x_ours = x
    if "cl" in flags and x.ndim == 4:
        ours = ours.to(memory_format=torch.channels_last)
        x_ours = x.contiguous(memory_format=torch.channels_last)
    return {"default": make_step(ours, "train", x_ours, y, flags), "plain fp32": make_step(plain, "train", x, y, ())}


def _cora_steps(device: torch.device, out: str) -> tuple[dict[str, Callable[[], None]], int, tuple[str, ...]]:
    """Cora's default full-batch step as the Trainer runs it (its task, loss and autocast), and the fp32 twin."""
    from resnet_any.train import TrainConfig, Trainer

    trainer = Trainer(TrainConfig(domain="graph", dataset="cora", epochs=1, device=str(device), seed=0, out=out,
                                  quiet=True))
    task, crit = trainer.task, trainer.criterion
    (batch,) = list(task.batches("train", trainer.sample_order))

    def step_of(model: nn.Module, autocast: Callable) -> Callable[[], None]:
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        model.train()

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with autocast():
                logits, _, target = task.train_forward(model, batch)
            crit(logits.float(), target).backward()
            opt.step()
        return step

    plain = copy.deepcopy(trainer.model)
    flags = ("bf16",) if trainer.amp_dtype is not None else ()
    return ({"default": step_of(trainer.model, trainer.autocast), "plain fp32": step_of(plain, contextlib.nullcontext)},
            task.size("train"), flags)


def speed_rows(s: Settings, log: Callable[[str], None], quick: bool) -> list[dict]:
    """recipe/<case> ratio rows: the default step over the plain fp32 NCHW loop, ABBA in one process."""
    from resnet_any import create_model

    where = machine(s.device)
    rows: list[dict] = []
    for case, domain, name, kwargs, shape, batch in GRID_CASES["quick" if quick else "full"]:
        torch.manual_seed(0)
        model = create_model(name, num_classes=10, in_channels=shape[0], **kwargs)
        flags = flags_for(domain, s.device)
        t = ab_rounds(_grid_steps(model, shape, batch, flags, s.device), s, batch)
        rows += _rows(case, t, flags, where, batch=batch, shape=list(shape), goal=GOAL if domain == "image" and not quick else None)
        log(f"  recipe/{case} ({'+'.join(flags) or 'fp32'}): {rows[-1]['ours']:.2f}x the plain fp32 loop")
    with tempfile.TemporaryDirectory(prefix="resnet_any_recipe_") as tmp:
        steps, nodes, flags = _cora_steps(s.device, f"{tmp}/run")
        t = ab_rounds(steps, s, nodes)
    rows += _rows("gcn-cora", t, flags, where, batch=nodes, shape=None, goal=None)
    log(f"  recipe/gcn-cora ({'+'.join(flags) or 'fp32'}): {rows[-1]['ours']:.2f}x the plain fp32 loop")
    return rows


def _rows(case: str, t: dict[str, list[float]], flags: tuple[str, ...], where: str, *, batch: int,
          shape: list[int] | None, goal: float | None) -> list[dict]:
    rows = pair_rows(f"recipe/{case}", t["default"], t["plain fp32"], ref_name="plain fp32 NCHW loop", device=where,
                     default=list(flags) or ["fp32"], batch_size=batch, shape=shape)
    for r in rows:
        r.pop("goal", None)
        if goal is not None and r["metric"] == "ratio":
            r["goal"] = goal
    return rows


def accuracy_rows(s: Settings, log: Callable[[str], None], quick: bool) -> list[dict]:
    """recipe/<dataset>/accuracy rows: test accuracy of a default run against its fp32 NCHW twin, same seed and epochs."""
    from resnet_any.train import TrainConfig, Trainer

    rows = []
    where = machine(s.device)
    for domain, dataset, extra in ACCURACY_CASES["quick" if quick else "full"]:
        if hardware.auto_amp(domain, s.device) == "off" and not hardware.auto_channels_last(domain):
            log(f"  recipe/{dataset}/accuracy: skipped, a default {domain} run is plain fp32 on {s.device.type}")
            continue
        acc, secs = {}, {}
        with tempfile.TemporaryDirectory(prefix="resnet_any_recipe_") as tmp:
            for label, opts in (("default", {}), ("plain", {"amp": "off", "channels_last": False})):
                cfg = TrainConfig(domain=domain, dataset=dataset, device=str(s.device), seed=0, out=f"{tmp}/{label}",
                                  quiet=True, **extra, **opts)
                end = [r for r in Trainer(cfg).run() if r["type"] == "end"][-1]
                acc[label], secs[label] = end["test_accuracy"], end["wall_seconds"]
        rows.append(make_row("speed", f"recipe/{dataset}/accuracy", "test_accuracy", acc["default"], acc["plain"],
                             "fraction", note="anchor: the same run in fp32 NCHW (--amp off --no-channels-last)",
                             device=where, seconds=round(secs["default"], 1), anchor_seconds=round(secs["plain"], 1),
                             default=list(flags_for(domain, s.device)) or ["fp32"]))
        log(f"  recipe/{dataset}/accuracy: default {acc['default']:.4f} in {secs['default']:.0f} s, fp32 "
            f"{acc['plain']:.4f} in {secs['plain']:.0f} s")
    return rows


def run(s: Settings, log: Callable[[str], None], args: argparse.Namespace) -> list[dict]:
    """Every recipe row: speed, then (unless --no-accuracy) accuracy."""
    log(f"recipe: default = {hardware.describe(hardware.auto_amp('image', s.device), True, 'image', s.device)} "
        f"for images on this {s.device.type}")
    rows = speed_rows(s, log, args.quick)
    if not args.no_accuracy:
        rows += accuracy_rows(s, log, args.quick)
    return rows


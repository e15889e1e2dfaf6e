"""image: digits and MNIST accuracy and time through the Trainer; CIFAR-10 when asked."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from resnet_any.bench.table import seeds_row
from resnet_any.errors import UserError

HELP = "image classification (digits, MNIST; CIFAR-10 when asked) through the Trainer: accuracy and time"

DATASETS = ("digits", "mnist", "cifar10")
DEFAULT_DATASETS = ("digits", "mnist")


@dataclass(frozen=True)
class Case:
    """What one dataset runs with on a CPU and on a GPU, and the published figure beside it."""

    loader: str                  # the data layer's dataset name
    shared: str | None           # folder under ../shared/data when the data is kept there
    cpu: dict                    # TrainConfig overrides on a CPU (the Trainer's recipe fills the rest)
    cuda: dict                   # ... and on a GPU
    anchor: float | None = None
    source: str = ""
    goal: float | None = None


CASES = {
    # the Trainer's own digits recipe (resnet18 at width 32, 30 epochs); no published anchor for this set
    "digits": Case("digits", None, dict(), dict(), None, "no published anchor; trainer recipe goal 0.98",
                   goal=0.98),
    # LeCun et al. 1998: LeNet-5, 0.95 % test error
    "mnist": Case("mnist", "MNIST", dict(width=16, epochs=2), dict(width=64, epochs=5), 0.9905,
                  "LeNet-5 (LeCun 1998)"),
    # kuangliu/pytorch-cifar: ResNet18 0.930 (PreActResNet18 0.951), 200 epochs; the CPU run is a
    # narrow network for a few epochs, so it is far below and says so. channels_last: ~1.2x the
    # img/s of NCHW for this network on one CPU thread (258 -> 307 at width 16, batch 128)
    "cifar10": Case("folder", "cifar10/cifar10-jpeg.tar.gz",
                    dict(width=16, epochs=10, batch_size=128, channels_last=True),
                    dict(width=64, epochs=30, batch_size=256, amp="bf16", channels_last=True), 0.930,
                    "ResNet18 200 ep (kuangliu); PreActResNet18 0.951; airbench 94% in 3.83 s on A100"),
}
TIME_TO = 0.94  # airbench / Myrtle's target: the first epoch whose validation accuracy reaches 94 %


def shared_path(sub: str) -> str | None:
    """`sub` under the repository's sibling shared/data folder, when it exists."""
    p = Path(__file__).resolve().parents[3] / "shared" / "data" / sub
    return str(p) if p.exists() else None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the image suite."""
    p.add_argument("--datasets", default=",".join(DEFAULT_DATASETS), help=f"comma list of {', '.join(DATASETS)}")
    p.add_argument("--data-dir", metavar="ROOT", help="data for a single dataset (default: ../shared/data beside the "
                   "repository: MNIST/, cifar10/cifar10-jpeg.tar.gz)")
    p.add_argument("--epochs", type=int, help="epochs for every dataset (default: per dataset and device)")
    p.add_argument("--width", type=int, help="first-stage width for every dataset")
    p.add_argument("--seeds", type=int, default=1, help="seeds per dataset")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.add_argument("--quick", action="store_true", help="smoke mode: digits only, width 8, 2 epochs")


def run(args: argparse.Namespace, log: Callable[[str], None]) -> list[dict]:
    """Train each dataset through the Trainer; rows for test accuracy and training time."""
    import torch

    from resnet_any.bench.runs import train_once
    from resnet_any.bench.timing import machine, resolve_device

    names = [n.strip().lower() for n in args.datasets.split(",") if n.strip()]
    for n in names:
        if n not in DATASETS:
            raise UserError(f"unknown dataset {n!r} for the image suite; valid: {', '.join(DATASETS)}")
    if not names:
        raise UserError(f"--datasets is empty; valid: {', '.join(DATASETS)}")
    if args.data_dir and len(names) != 1:
        raise UserError("--data-dir names the data of one dataset; pass a single --datasets entry with it")
    for name in ("epochs", "width", "seeds", "threads"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise UserError(f"--{name} must be >= 1, got {v}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    where = machine(device)
    if args.quick:
        names = ["digits"]
    log(f"image: {', '.join(names)} on {where}")
    rows = []
    for name in names:
        case = CASES[name]
        data_dir = args.data_dir or (shared_path(case.shared) if case.shared else None)
        if case.shared and data_dir is None:
            raise UserError(f"{name} needs --data-dir (expected ../shared/data/{case.shared} beside the repository)")
        config = dict(case.cuda if device.type == "cuda" else case.cpu)
        if args.quick:
            config.update(width=8, epochs=2)
        config.update({k: v for k, v in (("epochs", args.epochs), ("width", args.width)) if v})
        results = []
        for seed in range(args.seeds):
            end = train_once(dict(domain="image", dataset=case.loader, data_dir=data_dir, seed=seed,
                                  device=str(device), **config), target=TIME_TO if name == "cifar10" else None)
            results.append(end)
            log(f"  {name} seed {seed}: test {end['test_accuracy']:.4f} (val {end['best_val_acc']:.4f} at epoch "
                f"{end['best_epoch']}/{end['epochs']}), {end['wall_seconds']:.0f} s")
        detail = ", ".join(f"{k} {v}" for k, v in config.items()) or "the Trainer's recipe"
        rows.append(seeds_row("image", name, "test_accuracy", [r["test_accuracy"] for r in results], case.anchor,
                              "fraction", goal=case.goal, device=where, config=config,
                              note=f"anchor {case.source}; ours: {results[0]['model']}, {detail}"
                              if case.anchor else f"{case.source}; ours: {results[0]['model']}, {detail}"))
        rows.append(seeds_row("image", name, "train_time", [r["wall_seconds"] for r in results], None, "s",
                              device=where, note=f"whole run incl. validation each epoch, on {where}"))
        reached = [r["time_to_target"] for r in results if r.get("time_to_target") is not None]
        if name == "cifar10" and reached:
            rows.append(seeds_row("image", name, f"time_to_{TIME_TO:.2f}", reached, 3.83, "s", device=where,
                                  note="first epoch with val acc >= 0.94; anchor airbench on one A100 "
                                  "(Myrtle ResNet-9: 26 s on one V100)"))
    return rows

"""ucr: the series ResNet on every classification set aeon ships, beside Fawaz et al.'s ResNet and InceptionTime."""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

from resnet_any.bench.table import make_row, seeds_row
from resnet_any.errors import UserError

HELP = "time-series ResNet on aeon's shipped UCR/UEA sets, beside the published ResNet (Fawaz et al. 2019) and InceptionTime"

# Fawaz et al. 2019 (ResNet, mean of 5 runs, default split; BasicMotions from the bake-off redux) and
# Ismail Fawaz et al. 2020 (InceptionTime), test accuracy
RESNET = {"GunPoint": 0.991, "ItalyPowerDemand": 0.962, "ArrowHead": 0.838, "OSULeaf": 0.980, "ACSF1": 0.916,
          "JapaneseVowels": 0.992, "BasicMotions": 1.000}
INCEPTION = {"GunPoint": 1.000, "ItalyPowerDemand": 0.965, "ArrowHead": 0.846, "OSULeaf": 0.942, "ACSF1": 0.920}
PUBLISHED_EPOCHS = 1500

# budget -> (width, epoch cap, work budget per run in sample-timesteps, minimum epochs).
# "small" gives each set epochs in inverse proportion to the work of one epoch (epoch_work), at most
# the cap, so the whole suite, 3 seeds, fits 30 minutes on 2 CPU cores with --jobs 2. A cap of 300
# measured 3,500 CPU-s of training (29 min of two cores before start-up and the last lone run); at
# 250 it measured 3,186 CPU-s and 1,671 s of wall time with --jobs 2 on two quiet cores, and the mean
# of the 7 anchored sets moved from 0.951 to 0.950 (within the seeds' spread: the small sets' training
# loss is ~1e-3 or lower by then). ACSF1 gets 149 epochs and OSULeaf 240: their epochs cost most.
# "full" is 1/5 of the published 1,500 epochs at Wang et al.'s width 64.
BUDGETS = {
    "small": (32, 250, 23_000_000, 60),
    "full": (64, 300, None, 300),
}
# One optimizer step costs about as much as this many sample-timesteps of convolution on one thread at
# width 32 (measured ~0.01 s a step and ~1.2e-5 s a sample-timestep), which matters for small batches.
STEP_WORK = 800


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the ucr suite."""
    p.add_argument("--datasets", help="comma list (default: every classification set aeon ships)")
    p.add_argument("--budget", choices=tuple(BUDGETS), default="small",
                   help="small: width 32, epochs scaled to fit 30 min on 2 CPU cores; full: width 64, 300 epochs")
    p.add_argument("--epochs", type=int, help="epochs for every set (overrides the budget's)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per set (mean ± std)")
    p.add_argument("--width", type=int, help="first-block filters (Wang et al.: 64)")
    p.add_argument("--batch-size", type=int,
                   help="default: Fawaz et al.'s min(n_train / 10, 16), at least 2")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--schedule", choices=("cosine", "plateau"), default="cosine",
                   help="cosine to 0 over the epochs, or Fawaz et al.'s halving after 50 epochs without progress")
    p.add_argument("--select", choices=("train-loss", "val"), default="train-loss",
                   help="train-loss: train on the whole official train split and keep the epoch of lowest training "
                        "loss (Fawaz et al.); val: hold out --val-fraction of it and keep the best validation epoch")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="with --select val: share of the official train split held out to choose the epoch "
                        "(never the test set)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time in separate processes, one thread each")
    p.add_argument("--quick", action="store_true", help="smoke mode: GunPoint and ItalyPowerDemand, 1 seed, 3 epochs")


def epoch_work(n_train: int, length: int, batch: int) -> int:
    """Work of one training epoch: sample-timesteps of convolution plus a fixed cost per optimizer step."""
    return n_train * length + STEP_WORK * -(-n_train // batch)


def epochs_for(n_train: int, length: int, batch: int, budget: str, override: int | None) -> int:
    """Epochs a set gets: the override, or the budget's cap scaled down for sets whose epochs cost more."""
    if override:
        return override
    _, cap, work, floor = BUDGETS[budget]
    if work is None:
        return cap
    return max(floor, min(cap, work // epoch_work(n_train, length, batch)))


def fawaz_batch(n_train: int) -> int:
    """Fawaz et al.'s mini-batch: a tenth of the training set, at most 16 (2 at least, for BatchNorm)."""
    return max(2, min(16, n_train // 10))


def run(args: argparse.Namespace, log: Callable[[str], None]) -> list[dict]:
    """Train every set for every seed through the Trainer and return one row per set plus the mean rows."""
    import torch

    from resnet_any.bench.runs import parallel_map, train_once
    from resnet_any.data import list_datasets, load_dataset

    shipped = [n for n in list_datasets("series") if n not in ("ucr", "ts")]
    names = shipped
    if args.datasets:
        by_key = {n.lower(): n for n in shipped}
        names = [by_key.get(n.strip().lower(), n.strip()) for n in args.datasets.split(",") if n.strip()]
    seeds, override = args.seeds, args.epochs
    if args.quick:
        names, seeds, override = ["GunPoint", "ItalyPowerDemand"], 1, 3
    for name in ("seeds", "epochs", "width", "batch_size", "threads", "jobs"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if not 0 < args.val_fraction < 1:
        raise UserError(f"--val-fraction must be in (0, 1), got {args.val_fraction}")
    if args.threads:
        torch.set_num_threads(args.threads)
    width = args.width or BUDGETS[args.budget][0]
    # every set is loaded before the first run, so a bad name fails at once with one line
    data = {name: load_dataset("series", name, val_fraction=args.val_fraction) for name in names}
    log(f"ucr: {len(names)} sets x {seeds} seeds, budget {args.budget} (width {width}), "
        f"{args.jobs} job(s) x {1 if args.jobs > 1 else torch.get_num_threads()} thread(s)")
    rows = []
    start = time.perf_counter()
    n_train = {name: len(d.train) + len(d.val) for name, d in data.items()}
    batch = {name: args.batch_size or fawaz_batch(n) for name, n in n_train.items()}
    epochs = {name: epochs_for(n_train[name], d.meta["length"], batch[name], args.budget, override)
              for name, d in data.items()}
    # Fawaz et al.'s plateau: halve the rate after 50 epochs without a lower (training) loss
    schedule = dict(schedule="plateau", gamma=0.5, patience=50) if args.schedule == "plateau" else dict(schedule="cosine")
    # longest runs first, so parallel jobs do not end with one of them alone on a long run
    work = {name: epochs[name] * epoch_work(n_train[name], d.meta["length"], batch[name]) for name, d in data.items()}
    keys = sorted(((name, seed) for name in names for seed in range(seeds)), key=lambda k: -work[k[0]])
    tasks = [(dict(domain="series", dataset=data[name].name, model="series_resnet", width=width, epochs=epochs[name],
                   batch_size=batch[name], optimizer="adam", lr=args.lr, weight_decay=0.0, **schedule,
                   seed=seed, val_fraction=args.val_fraction, select=args.select.replace("-", "_"),
                   device=args.device),) for name, seed in keys]
    done: dict[str, list[dict]] = {name: [] for name in names}
    for (name, seed), end in zip(keys, parallel_map(train_once, tasks, args.jobs)):
        done[name].append(end)
        chosen = (f"train loss {end['best_train_loss']:.4f}" if args.select == "train-loss"
                  else f"val {end['best_val_acc']:.3f}")
        log(f"  {data[name].name} seed {seed}: test {end['test_accuracy']:.3f} ({chosen} at "
            f"epoch {end['best_epoch']}/{epochs[name]}, batch {batch[name]}, {end['seconds']:.0f} s)")
    for name in names:
        splits, results = data[name], done[name]
        rows.append(seeds_row(
            "ucr", splits.name, "test_accuracy", [r["test_accuracy"] for r in results], RESNET.get(splits.name),
            "fraction", anchors={k: v for k, v in (("ResNet", RESNET.get(splits.name)),
                                                     ("InceptionTime", INCEPTION.get(splits.name))) if v} or None,
            epochs=epochs[name], width=width, batch_size=batch[name], select=args.select,
            best_epochs=[r["best_epoch"] for r in results], seconds_per_run=statistics.fmean(r["seconds"] for r in results),
            cpu_seconds_per_run=statistics.fmean(r["cpu_seconds"] for r in results),
            note=(f"anchor ResNet (Fawaz 2019); InceptionTime {INCEPTION[splits.name]:.3f}; "
                  if splits.name in INCEPTION else "anchor ResNet (Fawaz 2019); " if splits.name in RESNET else "")
            + f"{epochs[name]} ep (published {PUBLISHED_EPOCHS}), width {width}"))
    anchored = [r for r in rows if r["case"] in RESNET]
    if anchored:
        # the goal: our mean over the published sets >= the published ResNet mean
        ref = statistics.fmean(RESNET[r["case"]] for r in anchored)
        # one mean over the sets per seed, so the row carries the spread over seeds too
        per_seed = [statistics.fmean(r["values"][k] for r in anchored) for k in range(seeds)]
        rows.append(seeds_row("ucr", f"mean({len(anchored)} sets)", "test_accuracy", per_seed, ref, "fraction",
                              goal=ref, sets=[r["case"] for r in anchored],
                              note="mean over the sets with a published ResNet (± std over seeds)"))
        inc = [r for r in anchored if r["case"] in INCEPTION]
        if inc:
            rows.append(make_row("ucr", f"mean({len(inc)} sets) vs InceptionTime", "test_accuracy",
                                 statistics.fmean(r["ours"] for r in inc),
                                 statistics.fmean(INCEPTION[r["case"]] for r in inc), "fraction",
                                 sets=[r["case"] for r in inc], note="anchor InceptionTime (Ismail Fawaz 2020)"))
    cpu = sum(r["cpu_seconds"] for results in done.values() for r in results)
    # the runs' own CPU time: on a machine shared with other jobs, what the suite needs of its cores
    rows.append(make_row("ucr", "suite", "wall_time", time.perf_counter() - start, None, "s",
                         budget=args.budget, seeds=seeds, jobs=args.jobs, cpu_seconds=round(cpu, 1),
                         threads=1 if args.jobs > 1 else torch.get_num_threads(),
                         note=f"budget {args.budget}: {len(names)} sets x {seeds} seeds; training CPU {cpu:.0f} s"))
    return rows

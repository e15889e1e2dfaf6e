"""`python -m resnet_any.sweep --config sweep.yaml`: grid or random search over any training config keys.

A sweep file:

    base: {domain: image, dataset: digits, epochs: 5}    # any `python -m resnet_any.train` config keys
    grid: {lr: [0.1, 0.03], width: [16, 32]}             # every combination, or instead:
    random: {trials: 8, seed: 0, space: {lr: {log_uniform: [0.001, 0.3]}, width: [16, 32, 64]}}
    metric: val_acc        # or val_loss, val_macro_f1, val_balanced_accuracy, val_auroc, train_loss:
                           # chosen on validation, never on test (best epoch of each trial)
    parallel: 2            # trials at a time
    out: runs/sweep-digits

Each trial is a plain training run in `out/trial-NNN/`; finished trials are skipped when the sweep
is run again, interrupted ones resume. `results.csv` is sorted by the metric and `best.yaml` is
the winning config, ready for `python -m resnet_any.train --config best.yaml`.
"""
from __future__ import annotations

import csv
import itertools
import json
import math
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from resnet_any.errors import Parser, UserError, command, read_text_file
from resnet_any.train.config import TrainConfig

SWEEP_KEYS = {"base", "grid", "random", "metric", "mode", "parallel", "out"}
METRICS = {"val_acc": "max", "val_loss": "min", "val_balanced_accuracy": "max", "val_macro_f1": "max",
           "val_auroc": "max", "train_loss": "min"}


def _sample(spec: Any, rng: random.Random) -> Any:
    """Draw one value: a list is a choice; {uniform: [a, b]}, {log_uniform: [a, b]}, {int: [a, b]} are ranges."""
    if isinstance(spec, list):
        return rng.choice(spec)
    if isinstance(spec, dict) and len(spec) == 1:
        (kind, bounds), = spec.items()
        if isinstance(bounds, list) and len(bounds) == 2:
            lo, hi = bounds
            if kind == "uniform":
                return rng.uniform(lo, hi)
            if kind == "log_uniform" and lo > 0 and hi > 0:
                return math.exp(rng.uniform(math.log(lo), math.log(hi)))
            if kind == "int":
                return rng.randint(int(lo), int(hi))
    raise UserError(f"bad search space entry {spec!r}; valid: a list of choices, "
                    "{uniform: [a, b]}, {log_uniform: [a, b]} (a, b > 0) or {int: [a, b]}")


def trials(sweep: dict) -> list[dict]:
    """The parameter sets to try, in a fixed order."""
    if "grid" in sweep:
        grid = sweep["grid"]
        if not isinstance(grid, dict) or not grid or not all(isinstance(v, list) and v for v in grid.values()):
            raise UserError("grid must map each config key to a non-empty list of values")
        keys = list(grid)
        return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]
    spec = sweep["random"]
    if not isinstance(spec, dict) or not isinstance(spec.get("space"), dict) or int(spec.get("trials", 0)) < 1:
        raise UserError("random needs trials: N >= 1 and space: {key: choices or range}")
    rng = random.Random(int(spec.get("seed", 0)))
    return [{k: _sample(v, rng) for k, v in spec["space"].items()} for _ in range(int(spec["trials"]))]


def load_sweep(path: str | Path) -> dict:
    """Read and check a sweep file; every key of base and of the space must be a training config key."""
    p = Path(path)
    text = read_text_file(p, "sweep file")
    try:
        sweep = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise UserError(f"sweep file {str(p)!r} is not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(sweep, dict):
        raise UserError(f"sweep file {str(p)!r} must be a mapping")
    unknown = set(sweep) - SWEEP_KEYS
    if unknown:
        raise UserError(f"sweep file: unknown key {sorted(unknown)[0]!r}; valid: {', '.join(sorted(SWEEP_KEYS))}")
    if ("grid" in sweep) == ("random" in sweep):
        raise UserError("a sweep needs exactly one of grid: or random:")
    if sweep.get("metric", "val_acc") not in METRICS:
        raise UserError(f"unknown metric {sweep.get('metric')!r}; valid: {', '.join(METRICS)}")
    sweep.setdefault("base", {})
    sweep["parallel"] = int(sweep.get("parallel", 1))
    if sweep["parallel"] < 1:
        raise UserError(f"parallel must be >= 1, got {sweep['parallel']}")
    for params in trials(sweep):
        cfg = TrainConfig.from_dict({**sweep["base"], **params}, source="sweep")  # unknown keys fail before any run
        if cfg.select == "train_loss" and sweep.get("metric", "val_acc").startswith("val"):
            raise UserError(f"metric {sweep.get('metric', 'val_acc')!r} needs a validation split, which select: "
                            "train_loss gives up; use metric: train_loss or select: val")
    return sweep


def _best_epoch_metric(run: Path, metric: str) -> float | None:
    """The metric at the trial's best epoch, read from its metrics.jsonl."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    values = [r[metric] for r in rows if r.get(metric) is not None]
    if not values:
        return None
    return max(values) if METRICS[metric] == "max" else min(values)


def run_trial(run: Path, config: dict) -> int:
    """Run (or resume, or skip) one trial as its own training process; returns its exit code."""
    if (run / "summary.json").is_file():
        return 0
    run.mkdir(parents=True, exist_ok=True)
    (run / "trial.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "resnet_any.train", "--config", str(run / "trial.yaml"), "--out", str(run), "--quiet"]
    if (run / "last.pt").is_file():
        cmd.append("--resume")
    with open(run / "train.log", "a") as log:
        return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode


def run_sweep(sweep: dict, out: str | Path) -> list[dict]:
    """Run every trial (N at a time), then write results.csv sorted by the metric and best.yaml."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metric = sweep.get("metric", "val_acc")
    plan = trials(sweep)
    configs = [{**sweep["base"], **params} for params in plan]
    if metric.startswith("val"):
        # a small set's derived recipe would merge validation into training (select train_loss), leaving the
        # sweep nothing to rank on: trials keep it unless the file chose a select
        configs = [{"select": "val", **c} for c in configs]
    runs = [out / f"trial-{i:03d}" for i in range(len(plan))]
    with ThreadPoolExecutor(sweep["parallel"]) as pool:
        codes = list(pool.map(run_trial, runs, configs))
    rows = []
    for run, params, code in zip(runs, plan, codes):
        summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").is_file() else {}
        value = _best_epoch_metric(run, metric) if (run / "metrics.jsonl").is_file() else None
        rows.append({"trial": run.name, **params, metric: value, "test_accuracy": summary.get("test_accuracy"),
                     "test_macro_f1": summary.get("test_macro_f1"), "wall_seconds": summary.get("wall_seconds"),
                     "status": "ok" if code == 0 else f"failed ({code})"})
    sign = -1 if METRICS[metric] == "max" else 1
    rows.sort(key=lambda r: (r[metric] is None, sign * (r[metric] or 0.0)))
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if rows[0][metric] is not None:
        best = configs[runs.index(out / rows[0]["trial"])]
        (out / "best.yaml").write_text(yaml.safe_dump(best, sort_keys=False))
    return rows


@command
def main(argv: list[str] | None = None) -> int:
    """Run a sweep from the command line and print its ranking."""
    p = Parser(prog="python -m resnet_any.sweep", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="the sweep YAML file")
    p.add_argument("--out", help="output folder (default: the file's out:, else runs/sweep-<file name>)")
    args = p.parse_args(argv)
    sweep = load_sweep(args.config)
    out = args.out or sweep.get("out") or f"runs/sweep-{Path(args.config).stem}"
    rows = run_sweep(sweep, out)
    metric = sweep.get("metric", "val_acc")
    for r in rows:
        print(f"{r['trial']}  {metric}={r[metric]}  test={r['test_accuracy']}  {r['status']}  "
              + " ".join(f"{k}={r[k]}" for k in trials(sweep)[0]))
    print(f"results -> {Path(out) / 'results.csv'}; best config -> {Path(out) / 'best.yaml'}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

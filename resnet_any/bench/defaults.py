"""defaults: `python -m resnet_any.train --domain D` exactly as a new user types it, timed from the shell."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Callable

from resnet_any.bench.runs import timed_command
from resnet_any.bench.table import seeds_row
from resnet_any.errors import UserError

HELP = "the out-of-the-box training commands (digits, GunPoint, Cora): test accuracy and wall time vs targets"

# domain -> (test accuracy goal, seconds allowed) on a 2-core CPU, for the embedded defaults: digits,
# GunPoint and Cora. Wall time is the whole command, Python start-up and imports included
TARGETS = {"image": (0.98, 120.0), "series": (0.97, 120.0), "graph": (0.80, 60.0)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the defaults suite."""
    p.add_argument("--domains", default=",".join(TARGETS), help=f"comma list of {', '.join(TARGETS)}")
    p.add_argument("--seeds", type=int, default=1, help="runs per domain, seeds 0..N-1 (seed 0 is the default)")
    p.add_argument("--quick", action="store_true", help="smoke mode: one epoch per domain (figures meaningless)")


def run_command(domain: str, seed: int, out: Path, extra: list[str]) -> tuple[dict, float]:
    """Run the training command in a fresh interpreter; (summary.json, wall seconds of the whole command)."""
    cmd = [sys.executable, "-m", "resnet_any.train", "--domain", domain, "--out", str(out), "--quiet"]
    if seed:
        cmd += ["--seed", str(seed)]
    wall = timed_command(cmd + extra)
    return json.loads((out / "summary.json").read_text(encoding="utf-8")), wall


def run(args: argparse.Namespace, log: Callable[[str], None]) -> list[dict]:
    """Each domain's default command per seed; rows for test accuracy and wall time beside the targets."""
    from resnet_any.bench.timing import machine, resolve_device

    domains = [d.strip().lower() for d in args.domains.split(",") if d.strip()]
    bad = [d for d in domains if d not in TARGETS]
    if bad or not domains:
        raise UserError(f"unknown --domains entry {bad[0] if bad else args.domains!r}; valid: {', '.join(TARGETS)}")
    if args.seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {args.seeds}")
    where = machine(resolve_device("auto"))
    extra = ["--epochs", "1"] if args.quick else []
    log(f"defaults: {', '.join(domains)} x {args.seeds} seed(s) on {where}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="resnet_any_defaults_") as tmp:
        for domain in domains:
            goal, limit = TARGETS[domain]
            runs = []
            for seed in range(args.seeds):
                summary, wall = run_command(domain, seed, Path(tmp) / f"{domain}-{seed}", extra)
                runs.append((summary, wall))
                log(f"  {domain} seed {seed}: test {summary['test_accuracy']:.4f} (best epoch "
                    f"{summary['best_epoch']}), {wall:.1f} s command, {summary['wall_seconds']:.1f} s training")
            summary = runs[0][0]
            command = f"python -m resnet_any.train --domain {domain}"
            rows.append(seeds_row("defaults", domain, "test_accuracy", [s["test_accuracy"] for s, _ in runs], None,
                                  "fraction", goal=goal, dataset=summary["dataset"], model=summary["model"],
                                  command=command, device=where,
                                  note=f"{summary['dataset']}, {summary['model']}; `{command}`"))
            rows.append(seeds_row("defaults", domain, "wall_time", [w for _, w in runs], None, "s",
                                  limit=limit, training_seconds=[round(s["wall_seconds"], 2) for s, _ in runs],
                                  device=where, note=f"whole command incl. start-up; {where}"))
    return rows

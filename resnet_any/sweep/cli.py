"""The command: check the file, open the study, start the workers, print and write the report."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import resnet_any.sweep
from resnet_any.errors import Parser, cli_environment, command
from resnet_any.sweep.config import load_sweep
from resnet_any.sweep.outputs import report
from resnet_any.sweep.study import counts, open_study
from resnet_any.sweep.trials import work


def _threads(workers: int) -> None:
    """Share the machine's cores among the workers: torch would give each all of them, and they would thrash."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@command
def main(argv: list[str] | None = None) -> int:
    """Run (or join, or finish) a sweep from the command line and print its ranking."""
    cli_environment()
    p = Parser(prog="python -m resnet_any.sweep", description=resnet_any.sweep.__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="the sweep YAML file")
    p.add_argument("--out", help="output folder (default: the file's out:, else runs/sweep-<file name>)")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # the processes main starts
    args = p.parse_args(argv)
    sweep = load_sweep(args.config, args.out)
    if args.worker is not None:
        _threads(sweep.workers)
        work(sweep, args.worker)
        return 0
    for note in sweep.notes:
        print(f"note: {note}")
    t0 = time.monotonic()
    study = open_study(sweep, create=True)  # every check is done; from here on things are written
    n = counts(study)
    print(f"study {sweep.study_name!r} in {sweep.storage}: {n['finished']} of {sweep.trials} trials finished, "
          f"{sweep.sampler} sampler, {sweep.pruner} pruner, {sweep.workers} worker{'s' * (sweep.workers > 1)}",
          flush=True)
    if sweep.workers == 1:
        work(sweep)
        codes = [0]
    else:
        cmd = [sys.executable, "-m", "resnet_any.sweep", "--config", str(args.config), "--out", str(sweep.out)]
        procs = [subprocess.Popen([*cmd, "--worker", str(i)]) for i in range(sweep.workers)]
        codes = [proc.wait() for proc in procs]
    n = counts(study)
    rows = report(study, sweep)
    best = rows and rows[0]["state"] == "COMPLETE"
    print(f"{n['finished']} of {sweep.trials} trials finished ({n['PRUNED']} pruned) in {time.monotonic() - t0:.0f} s; "
          f"results -> {sweep.out / 'results.csv'}" + (f", best config -> {sweep.out / 'best.yaml'}" if best else ""))
    if n["finished"] < sweep.trials:
        print(f"error: the study is unfinished (worker exit codes {codes}); run the same command again to finish it",
              file=sys.stderr)
        return 1
    return 0

"""startup: seconds from a fresh interpreter to the end of a one-epoch run, beside `python -c "import torch"`.

Each command runs in its own new process, in rotating order over the rounds (drift and the disk cache
spread evenly); medians. Two floors are timed too: one plain PyTorch optimizer step (what any training
run pays) and the libraries' own import (PyG and torchmetrics, what any graph run needs).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Callable

from resnet_any.bench.runs import timed_command
from resnet_any.bench.table import make_row, summary
from resnet_any.errors import UserError

HELP = "start-up: a one-epoch graph run and the imports under it, against `import torch`, in fresh processes"
GOAL = 2.0  # issue 15: a one-epoch graph run within twice torch's import


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Suite options."""
    p.add_argument("--rounds", type=int, default=5, help="fresh processes per command (default 5)")


def _commands(out: Path) -> dict[str, list[str]]:
    py = [sys.executable, "-W", "ignore"]
    return {
        "import torch": [*py, "-c", "import torch"],
        # the first optimizer step imports torch._dynamo (torch.optim checks for compilation): any training pays it
        "import torch + one Adam step": [*py, "-c", "import torch; p = torch.zeros(1, requires_grad=True); "
                                         "p.sum().backward(); torch.optim.Adam([p]).step()"],
        "import torch_geometric, torchmetrics": [*py, "-c", "import torch_geometric.nn, torchmetrics"],
        "train --help": [*py, "-m", "resnet_any.train", "--help"],
        "train --domain graph --epochs 1": [*py, "-m", "resnet_any.train", "--domain", "graph", "--epochs", "1",
                                            "--quiet", "--out", str(out)],
    }


def run(args: argparse.Namespace, log: Callable[[str], None]) -> list[dict]:
    """Time each command `--rounds` times in fresh processes; ratios to `import torch`."""
    if args.rounds < 1:
        raise UserError(f"--rounds must be >= 1, got {args.rounds}")
    with tempfile.TemporaryDirectory(prefix="resnet_any_startup_") as tmp:
        names = list(_commands(Path(tmp)))
        times: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.rounds):
            commands = _commands(Path(tmp) / f"run{r}")  # a new --out each round: a run never resumes another
            for i in range(len(names)):
                name = names[(i + r) % len(names)]  # rotate: each command takes each position in turn
                times[name].append(timed_command(commands[name]))
            log(f"  round {r + 1}: " + "  ".join(f"{n} {times[n][-1]:.2f}s" for n in names))
    torch_s = statistics.median(times["import torch"])
    rows = [make_row("startup", "import torch", "seconds", torch_s, None, "s", **summary(times["import torch"]))]
    for name in names[1:]:
        ratios = [a / b for a, b in zip(times[name], times["import torch"])]
        rows.append(make_row("startup", name, "seconds", statistics.median(times[name]), torch_s, "s",
                             **summary(times[name]), note="anchor: import torch, same rounds (medians)"))
        row = make_row("startup", name, "ratio", statistics.median(ratios), 1.0, "x", **summary(ratios),
                       note="over import torch, median of per-round ratios")
        if name.startswith("train --domain graph"):
            row["limit"] = GOAL
        rows.append(row)
    return rows

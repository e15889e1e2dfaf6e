"""`python -m resnet_any.train`: flags -> TrainConfig -> Trainer, records -> console; user errors exit 2 in one line."""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from typing import Iterator, Sequence

from resnet_any.errors import NotThisRank, Parser, run_cli
from resnet_any.train.config import load_config_file
from resnet_any.train.options import BY_NAME, TrainConfig, add_arguments


def build_parser() -> argparse.ArgumentParser:
    """Every flag of `python -m resnet_any.train`: one per option of options.OPTIONS, plus --config."""
    p = Parser(prog="python -m resnet_any.train", argument_default=None,
               description="Train a ResNet on images, time series, graphs or volumes. --dataset is a name or a path "
                           "to your own files; without it each domain trains on an embedded real dataset (image: "
                           "digits, series: GunPoint, graph: Cora).")
    add_arguments(p)
    p.add_argument("--config", help="YAML or JSON file of options; flags override it")
    return p


def config_from_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """Parse flags and merge them over the --config file (file < flags)."""
    args = build_parser().parse_args(argv)
    flags = TrainConfig(**{k: v for k, v in vars(args).items() if k in BY_NAME and v is not None})
    base = load_config_file(args.config) if args.config else TrainConfig()
    merged = base.merged(flags.explicit())
    if base.model_kwargs and flags.model_kwargs:
        merged.model_kwargs = {**base.model_kwargs, **flags.model_kwargs}
    return merged


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[list[int]]:
    """First SIGINT/SIGTERM asks the trainer to stop after the current step; a second SIGINT aborts at once."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, frame: object) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signum)
        stop.set()
        print(f"\n{signal.Signals(signum).name}: stopping after the current step (again to abort)", file=sys.stderr)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: Sequence[str] | None = None) -> int:
    """Train from command-line flags; returns the exit code."""
    cfg = config_from_args(argv)
    from resnet_any.train.plan import make_plan

    try:
        plan = make_plan(cfg)  # options + data -> one resolved run; every check happens here, the cheap ones first
    except NotThisRank:
        return 0  # rank 0 trains this one-process task alone and said so
    from resnet_any.train.run.sinks import Console
    from resnet_any.train.run.trainer import Trainer, is_main_process

    # under torchrun only rank 0 prints progress (and writes files, see Trainer)
    trainer = Trainer(plan, sinks=[Console(quiet=bool(plan.config.quiet))] if is_main_process() else [])
    stop = threading.Event()
    with stop_on_signals(stop) as received:
        end = trainer.run_to_end(stop)
    if end.get("stopped"):
        print(f"stopped after epoch {end['epochs']}; continue with: python -m resnet_any.train --resume "
              f"--out {end['out']}", file=sys.stderr)
        if received:
            return 128 + received[0]
    return 0


def entry() -> None:
    """`python -m resnet_any.train`: exit with main's code (a user error: 2, one line)."""
    sys.exit(run_cli(main))

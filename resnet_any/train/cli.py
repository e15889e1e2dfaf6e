"""`python -m resnet_any.train`: flags -> TrainConfig -> Trainer, records -> console; user errors exit 2 in one line."""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from dataclasses import fields
from typing import Iterator, Sequence

from resnet_any.errors import Parser, run_cli
from resnet_any.train.config import (AMP_MODES, NONFINITE, OPTIMIZERS, SCHEDULES, SELECTS, TrainConfig, check_out,
                                     load_config_file, validate)
from resnet_any.train.recipes import check_domain


def _json_mapping(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Every flag of `python -m resnet_any.train`; each defaults to None so only given flags override."""
    p = Parser(prog="python -m resnet_any.train", argument_default=None,
               description="Train a ResNet on images, time series or graphs. Without --dataset each domain "
                           "trains on an embedded real dataset (image: digits, series: GunPoint, graph: Cora).")
    g = p.add_argument_group("data")
    g.add_argument("--domain", help="image, series or graph")
    g.add_argument("--dataset", help="dataset name (case-insensitive); default: the domain's embedded one")
    g.add_argument("--data-dir", help="where the dataset's files are")
    g.add_argument("--cache-dir", help="writable cache for processed data (graphs)")
    g.add_argument("--val-fraction", type=float, help="fraction of train held out for validation")
    g.add_argument("--select", help=f"{' or '.join(SELECTS)}: keep the best validation epoch, or train on "
                   "train + val and keep the lowest-training-loss epoch (tiny sets)")
    g.add_argument("--image-size", type=int, help="resize images to this side length")
    g.add_argument("--workers", type=int, help="DataLoader worker processes")
    g = p.add_argument_group("model")
    g.add_argument("--model", help="registry name, e.g. resnet18, se_resnet50, series_resnet, gcn_resnet")
    g.add_argument("--model-kwargs", type=_json_mapping, help='extra model arguments as JSON, e.g. \'{"dropout": 0.3}\'')
    g.add_argument("--width", type=int, help="first-stage width (hidden channels for graphs)")
    g.add_argument("--depth", type=int, help="depth: picks resnet18/34/50/.. for grid models, layers for graphs")
    g.add_argument("--attn", help="attention in blocks, e.g. se (none to disable)")
    g.add_argument("--drop-path", type=float, help="stochastic depth rate")
    g.add_argument("--init", help="initial weights: a resnet_any checkpoint or a torchvision-format state_dict")
    g.add_argument("--freeze-backbone", action=argparse.BooleanOptionalAction, help="train only the classifier")
    g = p.add_argument_group("optimization")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int,
                   help="GLOBAL batch: under torchrun each of the N processes takes batch/N (must divide)")
    g.add_argument("--lr", type=float, help="peak learning rate")
    g.add_argument("--weight-decay", type=float, help="(not applied to norms and biases)")
    g.add_argument("--optimizer", help=", ".join(OPTIMIZERS))
    g.add_argument("--momentum", type=float, help="SGD momentum")
    g.add_argument("--nesterov", action=argparse.BooleanOptionalAction, help="Nesterov momentum for SGD")
    g.add_argument("--schedule", help=", ".join(SCHEDULES))
    g.add_argument("--warmup-epochs", type=int)
    g.add_argument("--step-size", type=int, help="epochs between decays of the step schedule")
    g.add_argument("--gamma", type=float, help="decay factor of the step and plateau schedules")
    g.add_argument("--patience", type=int, help="epochs without improvement before plateau decays")
    g.add_argument("--label-smoothing", type=float)
    g.add_argument("--clip-grad", type=float, help="max gradient norm")
    g.add_argument("--on-nonfinite", help=f"{' or '.join(NONFINITE)} on a NaN/inf loss")
    g = p.add_argument_group("run")
    g.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    g.add_argument("--amp", help=", ".join(AMP_MODES))
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction, help="channels_last memory format (images)")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction, help="torch.compile the model")
    g.add_argument("--seed", type=int)
    g.add_argument("--out", help="run directory (default runs/<domain>-<timestamp>)")
    g.add_argument("--resume", action=argparse.BooleanOptionalAction, help="continue the run in --out from last.pt")
    g.add_argument("--config", help="YAML or JSON file of options; flags override it")
    g.add_argument("--quiet", action=argparse.BooleanOptionalAction, help="print only the final line")
    g.add_argument("--sync-bn", action=argparse.BooleanOptionalAction,
                   help="under torchrun on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm)")
    return p


def config_from_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """Parse flags and merge them over the --config file (file < flags)."""
    args = build_parser().parse_args(argv)
    names = {f.name for f in fields(TrainConfig)}
    flags = TrainConfig(**{k: v for k, v in vars(args).items() if k in names and v is not None})
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
    # checks that need no torch come first: a typo fails in a fraction of a second
    validate(cfg)
    check_out(cfg)
    if not cfg.resume:
        check_domain(cfg.domain)
    from resnet_any.train.distributed import NotThisRank
    from resnet_any.train.sinks import Console
    from resnet_any.train.trainer import Trainer, is_main_process

    # under torchrun only rank 0 prints progress (and writes files, see Trainer)
    try:
        trainer = Trainer(cfg, sinks=[Console(quiet=bool(cfg.quiet))] if is_main_process() else [])
    except NotThisRank:
        return 0  # rank 0 trains this one-process task alone and said so
    stop = threading.Event()
    end: dict = {}
    with stop_on_signals(stop) as received:
        for end in trainer.run(stop):
            pass
    if end.get("stopped"):
        print(f"stopped after epoch {end['epochs']}; continue with: python -m resnet_any.train --resume "
              f"--out {end['out']}", file=sys.stderr)
        if received:
            return 128 + received[0]
    return 0


def entry() -> None:
    """Console-script entry point."""
    sys.exit(run_cli(main))

"""gpu: one command for the day a CUDA machine is lent; every CUDA path of the toolkit, in under 8 minutes.

Rows, each independent (a part that fails records an `error` row and the others still run):
1. resnet50 training steps, fp32 / bf16 / fp16 (GradScaler) autocast, channels_last, beside NVIDIA's
   published 2,470 img/s A100 AMP figure; the bf16 step with torch.compile on and off (compile time apart).
2. a short CIFAR-10 ResNet-18 run through the Trainer (../shared/data/cifar10 carried along): test accuracy, time.
3. a one-process DDP start under torchrun (nccl on CUDA, gloo in smoke mode), checked through its summary.json.
4. the trainer end to end as a user runs it: `python -m resnet_any.train --domain image|graph` on the device.

`--smoke` runs the same code paths on a CPU with tiny sizes (what the tests run); compile is skipped there.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch

from resnet_any.bench.table import make_row
from resnet_any.errors import UserError

HELP = "every CUDA path in one run (<8 min on one GPU): resnet50 AMP steps, compile, CIFAR-10, nccl DDP, the trainer"

PUBLISHED_RN50_AMP = 2470.0  # NVIDIA DeepLearningExamples, ResNet-50 AMP training, one A100-80GB
# (precision, channels_last): fp32 is the baseline every other row divides by
STEP_VARIANTS = (("fp32", False), ("fp32", True), ("bf16", True), ("fp16", True))


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the GPU suite."""
    p.add_argument("--smoke", action="store_true", help="the same paths on a CPU with tiny sizes (seconds; for tests)")
    p.add_argument("--device", default="cuda", help="cuda or cuda:N (cpu only with --smoke)")
    p.add_argument("--cifar-dir", help="the CIFAR-10 JPEG archive (default: ../shared/data/cifar10/cifar10-jpeg.tar.gz "
                   "beside the repository); the CIFAR row is skipped, and says so, without it")
    p.add_argument("--cifar-epochs", type=int, default=8, help="epochs of the CIFAR-10 ResNet-18 run")
    p.add_argument("--skip", default="", help="comma list of parts to skip: steps, compile, cifar, ddp, trainer")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _throughput(step: Callable[[], None], device: torch.device, batch: int, warmup: int, steps: int) -> tuple[float, float]:
    """(samples/s over `steps` timed steps, seconds of the warm-up steps: compile time for a compiled model)."""
    t = time.perf_counter()
    for _ in range(warmup):
        step()
    _sync(device)
    warm = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return batch * steps / (time.perf_counter() - t), warm


def step_rows(device: torch.device, smoke: bool, compile_too: bool, log: Callable[[str], None]) -> list[dict]:
    """resnet50 training throughput per precision and memory format, and bf16 with torch.compile."""
    from resnet_any import create_model
    from resnet_any.bench.timing import machine, make_step

    name, batch, size, warmup, steps = ("resnet18", 2, 32, 1, 1) if smoke else ("resnet50", 256, 224, 5, 20)
    where = machine(device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=g).to(device)
    y = torch.randint(0, 1000, (batch,), generator=g).to(device)
    variants = [v for v in STEP_VARIANTS if device.type == "cuda" or v[0] != "fp16"]  # fp16 autocast: CUDA only
    rows, base = [], None
    for precision, cl in variants:
        torch.manual_seed(0)
        fmt = torch.channels_last if cl else torch.contiguous_format
        model = create_model(name).to(device, memory_format=fmt)
        flags = tuple(f for f in (precision, "cl" if cl else "") if f not in ("fp32", ""))
        ips, _ = _throughput(make_step(model, "train", x.contiguous(memory_format=fmt), y, flags), device, batch,
                             warmup, steps)
        base = base or ips
        case = f"{name}/train/{precision}" + ("+cl" if cl else "")
        rows.append(make_row("gpu", case, "samples_per_s", ips, PUBLISHED_RN50_AMP if precision != "fp32" else None,
                             "samples/s", device=where, batch_size=batch, image_size=size, speedup_vs_fp32=ips / base,
                             note="anchor: NVIDIA A100-80GB ResNet-50 AMP 2,470 img/s" if precision != "fp32" else
                             "baseline of the speedups"))
        log(f"  {case}: {ips:,.0f} samples/s ({ips / base:.2f}x fp32)")
        del model
    if compile_too:
        precision = "bf16" if device.type == "cpu" or torch.cuda.is_bf16_supported() else "fp16"
        out = {}
        for compiled in (False, True):
            torch.manual_seed(0)
            model = create_model(name).to(device, memory_format=torch.channels_last)
            flags = (precision, "cl", "compile") if compiled else (precision, "cl")
            step = make_step(model, "train", x.contiguous(memory_format=torch.channels_last), y, flags)
            out[compiled] = _throughput(step, device, batch, warmup, steps)
            del model
        rows.append(make_row("gpu", f"{name}/train/{precision}+cl/compile", "ratio", out[True][0] / out[False][0], 1.0,
                             "x", device=where, compiled_samples_per_s=out[True][0], eager_samples_per_s=out[False][0],
                             compile_seconds=round(out[True][1], 1),
                             note="torch.compile / eager, same step; compile_seconds: the warm-up steps incl. compiling"))
        log(f"  compile: {out[True][0]:,.0f} vs eager {out[False][0]:,.0f} samples/s, compile {out[True][1]:.0f} s")
    return rows


def cifar_rows(device: torch.device, smoke: bool, archive: str | None, epochs: int,
               log: Callable[[str], None]) -> list[dict]:
    """A short CIFAR-10 ResNet-18 run through the Trainer (digits in smoke mode): test accuracy and time."""
    from resnet_any.bench.runs import train_once
    from resnet_any.bench.timing import machine

    if smoke:
        config = dict(domain="image", dataset="digits", width=8, epochs=1)
        case = "digits/resnet18-w8"
    else:
        if archive is None or not Path(archive).exists():
            log(f"  cifar: skipped, no archive at {archive} (pass --cifar-dir)")
            return [make_row("gpu", "cifar10/resnet18", "skipped", 0.0, None, "", note=f"no CIFAR-10 archive at {archive}")]
        config = dict(domain="image", dataset="folder", data_dir=archive, width=64, epochs=epochs, batch_size=512,
                      lr=0.2, workers=min(8, os.cpu_count() or 1))
        case = f"cifar10/resnet18/{epochs}ep"
    end = train_once({**config, "device": str(device), "seed": 0})
    log(f"  {case}: test {end['test_accuracy']:.4f} in {end['wall_seconds']:.0f} s ({end['epochs_run']} epochs)")
    where = machine(device)
    return [make_row("gpu", case, "test_accuracy", end["test_accuracy"], None if smoke else 0.930, "fraction",
                     device=where, note=None if smoke else "anchor: ResNet18, 200 epochs (kuangliu/pytorch-cifar); "
                     "ours is a short run"),
            make_row("gpu", case, "train_time", end["wall_seconds"], None, "s", device=where,
                     precision=end.get("precision"))]


def _run_cli(args: list[str], env: dict[str, str], timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    t = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    return proc, time.perf_counter() - t


def _summary(out: Path, proc: subprocess.CompletedProcess) -> dict[str, Any]:
    path = out / "summary.json"
    if proc.returncode != 0 or not path.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"exit {proc.returncode}: {tail[0]}")
    return json.loads(path.read_text())


def ddp_rows(device: torch.device, smoke: bool, log: Callable[[str], None]) -> list[dict]:
    """A one-process torchrun job (nccl on CUDA, gloo on CPU): it must join, train an epoch and write its summary."""
    from resnet_any.bench.timing import machine

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory(prefix="resnet_any_gpu_") as tmp:
        out = Path(tmp) / "ddp"
        args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                "-m", "resnet_any.train", "--domain", "image", "--epochs", "1", "--width", "8", "--device",
                "cpu" if smoke else str(device), "--quiet", "--out", str(out)]
        proc, secs = _run_cli(args, env, 300)
        end = _summary(out, proc)
    backend = "gloo" if smoke else "nccl"
    log(f"  ddp ({backend}, 1 process): test {end['test_accuracy']:.4f}, {secs:.0f} s incl. start-up")
    return [make_row("gpu", f"ddp/{backend}/1-process", "wall_time", secs, None, "s", device=machine(device),
                     test_accuracy=end["test_accuracy"], note="torchrun start, 1 epoch of digits, summary written")]


def trainer_rows(device: torch.device, smoke: bool, log: Callable[[str], None]) -> list[dict]:
    """`python -m resnet_any.train --domain D` as a user types it, on the device: accuracy and wall time."""
    from resnet_any.bench.timing import machine

    rows = []
    for domain in ("image", "graph"):
        with tempfile.TemporaryDirectory(prefix="resnet_any_gpu_") as tmp:
            out = Path(tmp) / domain
            extra = ["--epochs", "1", "--width", "8"] if smoke else []
            proc, secs = _run_cli([sys.executable, "-m", "resnet_any.train", "--domain", domain, "--device",
                                   "cpu" if smoke else str(device), "--quiet", "--out", str(out), *extra],
                                  dict(os.environ), 600)
            end = _summary(out, proc)
            config = json.loads((out / "config.json").read_text())
        log(f"  trainer {domain}: test {end['test_accuracy']:.4f} in {secs:.0f} s (amp {config['amp']})")
        rows.append(make_row("gpu", f"trainer/{domain}", "test_accuracy", end["test_accuracy"], None, "fraction",
                             device=machine(device), wall_seconds=round(secs, 1), amp=config["amp"],
                             channels_last=config["channels_last"], dataset=end["dataset"], model=end["model"]))
    return rows


def run(args: argparse.Namespace, log: Callable[[str], None]) -> list[dict]:
    """Every part, each recorded as rows or as an error row."""
    from resnet_any.bench.image import shared_path
    from resnet_any.bench.timing import machine, resolve_device

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    parts = ("steps", "compile", "cifar", "ddp", "trainer")
    unknown = skip - set(parts)
    if unknown:
        raise UserError(f"--skip: unknown part {sorted(unknown)[0]!r}; valid: {', '.join(parts)}")
    if args.cifar_epochs < 1:
        raise UserError(f"--cifar-epochs must be >= 1, got {args.cifar_epochs}")
    device = torch.device("cpu") if args.smoke else resolve_device(args.device)
    if device.type != "cuda" and not args.smoke:
        raise UserError(f"bench gpu needs a CUDA device (got {args.device}); --smoke runs its paths on the CPU")
    log(f"gpu: {machine(device)}, torch {torch.__version__}" + (" (smoke mode)" if args.smoke else ""))
    archive = args.cifar_dir or shared_path("cifar10/cifar10-jpeg.tar.gz")
    jobs: list[tuple[str, Callable[[], list[dict]]]] = [
        ("steps", lambda: step_rows(device, args.smoke, "compile" not in skip and not args.smoke, log)),
        ("cifar", lambda: cifar_rows(device, args.smoke, archive, args.cifar_epochs, log)),
        ("ddp", lambda: ddp_rows(device, args.smoke, log)),
        ("trainer", lambda: trainer_rows(device, args.smoke, log)),
    ]
    rows: list[dict] = []
    for part, job in jobs:
        if part in skip:
            continue
        t = time.perf_counter()
        try:
            rows += job()
        except Exception as e:  # noqa: BLE001 -- one broken CUDA path must not hide the figures of the others
            log(f"  {part}: FAILED {type(e).__name__}: {e}")
            rows.append(make_row("gpu", part, "error", 0.0, None, "", error=f"{type(e).__name__}: {e}",
                                 traceback=traceback.format_exc(limit=5)))
        log(f"  ({part}: {time.perf_counter() - t:.0f} s)")
    return rows

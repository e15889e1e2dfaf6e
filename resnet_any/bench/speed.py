"""speed: our resnet18/resnet50 against torchvision's, same batch and settings, alternating A/B in one process."""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
from torch import nn

from resnet_any.bench.table import comma_choices, make_row, summary
from resnet_any.bench.timing import (Settings, ab_rounds, load_average, machine, make_step, pair_rows, resolve_device,
                                     sync)
from resnet_any.errors import UserError

HELP = "training-step and forward throughput of our ResNets against torchvision's (ratio rows), and the trainer's overhead"

MODELS = ("resnet18", "resnet50")
MODES = ("train", "forward")
FLAGS = ("fp32", "bf16", "fp16", "cl", "compile")
# ResNet-50 AMP training on one A100 80GB: NVIDIA DeepLearningExamples' published 2,470 img/s
# (timm with channels_last: about 2,600 img/s)
PUBLISHED_RN50_AMP = 2470.0

# (batch, image size, rounds, timed steps per round, warm-up steps)
PRESETS = {
    "quick": (16, 64, 5, 2, 1),
    "cpu": (32, 224, 5, 2, 1),
    "cuda": (256, 224, 7, 10, 5),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the speed suite."""
    p.add_argument("--models", default=",".join(MODELS), help="comma list of image models with a torchvision twin")
    p.add_argument("--modes", default=",".join(MODES), help="comma list of: train, forward")
    p.add_argument("--variants", help="comma list of '+'-joined flags from fp32, bf16, fp16, cl (channels_last), "
                   "compile; default fp32 on CPU, fp32,bf16+cl,bf16+cl+compile on CUDA")
    p.add_argument("--batch-size", type=int, help="default 32 on CPU (16 with --quick), 256 on CUDA")
    p.add_argument("--image-size", type=int, help="default 224 (64 with --quick)")
    p.add_argument("--rounds", type=int, help="A/B rounds; the order flips each round (ABBA) to cancel drift")
    p.add_argument("--steps", type=int, help="timed steps per model per round")
    p.add_argument("--warmup", type=int, help="untimed steps per model before the rounds")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall: elapsed time (the figure to report); cpu: this process's CPU time, steadier "
                   "when other jobs share the cores (use with --threads 1)")
    p.add_argument("--control", action="store_true",
                   help="add an A/A row (torchvision against a second copy of itself): the noise floor")
    p.add_argument("--no-trainer", action="store_true", help="skip the trainer end-to-end row")
    p.add_argument("--no-recipe", action="store_true",
                   help="skip the recipe rows (our default step against the plain fp32 NCHW loop)")
    p.add_argument("--no-accuracy", action="store_true",
                   help="skip the recipe accuracy rows (a default run against its fp32 twin on real data)")
    p.add_argument("--trainer-size", type=int, help="digits image size for the trainer row (default 32 quick, 64)")
    p.add_argument("--trainer-width", type=int, help="resnet18 width for the trainer row (default 16 quick, 32)")
    p.add_argument("--quick", action="store_true", help="small images and batch: well under a minute on 2 CPU cores")


def _variant(text: str) -> tuple[str, ...]:
    """'bf16+cl' -> ('bf16', 'cl') in canonical order; 'fp32' alone is plain eager float32."""
    flags = [f.strip() for f in text.split("+") if f.strip()]
    for f in flags:
        if f not in FLAGS:
            raise UserError(f"unknown variant flag {f!r} in {text!r}; valid flags: {', '.join(FLAGS)}")
    return tuple(f for f in FLAGS if f in flags and f != "fp32")


def variant_name(flags: tuple[str, ...]) -> str:
    """'fp32' for plain eager float32, else the flags joined by '+'."""
    return "+".join(flags) if flags else "fp32"


def settings(args: argparse.Namespace) -> Settings:
    """Validate the options and fill the preset for the device."""
    from resnet_any import list_models

    device = resolve_device(args.device)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    import torchvision

    for m in models:
        if m not in list_models("image") or not hasattr(torchvision.models, m):
            raise UserError(f"--models: {m!r} is not an image model with a torchvision twin; try resnet18, resnet50")
    if not models:
        raise UserError("--models is empty; try resnet18,resnet50")
    modes = comma_choices(args.modes, MODES, "mode", "--modes")
    default_variants = "fp32" if device.type == "cpu" else "fp32,bf16+cl,bf16+cl+compile"
    variants = [_variant(v) for v in (args.variants or default_variants).split(",") if v.strip()]
    if not variants:
        raise UserError("--variants is empty; valid flags: " + ", ".join(FLAGS))
    batch, size, rounds, steps, warmup = PRESETS["quick" if args.quick else device.type]
    chosen = {"batch_size": args.batch_size, "image_size": args.image_size, "rounds": args.rounds,
              "steps": args.steps, "threads": args.threads}
    for name, v in chosen.items():
        if v is not None and v < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if args.warmup is not None and args.warmup < 0:
        raise UserError(f"--warmup must be >= 0, got {args.warmup}")
    for name in ("trainer_size", "trainer_width"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.image_size is not None and args.image_size < 32:
        raise UserError(f"--image-size must be >= 32 (five stride-2 stages), got {args.image_size}")
    if args.clock == "cpu" and device.type != "cpu":
        raise UserError("--clock cpu measures CPU time and only makes sense with --device cpu")
    return Settings(device, models, modes, variants, args.batch_size or batch, args.image_size or size,
                    args.rounds or rounds, args.steps or steps, warmup if args.warmup is None else args.warmup,
                    time.process_time if args.clock == "cpu" else time.perf_counter)


def twin_models(name: str, device: torch.device, flags: tuple[str, ...]) -> tuple[nn.Module, nn.Module]:
    """(ours, torchvision's) with the same weights, on `device`, channels_last if asked."""
    import torchvision

    from resnet_any import create_model

    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)()
    ours = create_model(name)
    ours.load_state_dict(theirs.state_dict())  # same weights: both do exactly the same arithmetic
    fmt = torch.channels_last if "cl" in flags else torch.contiguous_format
    return ours.to(device, memory_format=fmt), theirs.to(device, memory_format=fmt)


def run(args: argparse.Namespace, log: Callable[[str], None]) -> list[dict]:
    """Run the speed suite and return its rows."""
    s = settings(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    where = machine(s.device)
    log(f"speed: {where}; batch {s.batch}, {s.size}px, {s.rounds} rounds x {s.steps} steps, load {load_average()}")
    rows: list[dict] = []
    for flags in s.variants:
        for name in s.models:
            ours, theirs = twin_models(name, s.device, flags)
            fmt = torch.channels_last if "cl" in flags else torch.contiguous_format
            g = torch.Generator().manual_seed(0)
            x = torch.randn(s.batch, 3, s.size, s.size, generator=g).to(s.device, memory_format=fmt)
            y = torch.randint(0, 1000, (s.batch,), generator=g).to(s.device)
            for mode in s.modes:
                steps = {"ours": make_step(ours, mode, x, y, flags), "torchvision": make_step(theirs, mode, x, y, flags)}
                if args.control:
                    _, twin = twin_models(name, s.device, flags)
                    steps["control"] = make_step(twin, mode, x, y, flags)
                load0 = load_average()
                t = ab_rounds(steps, s, s.batch)
                case = f"{name}/{mode}" + ("" if not flags else f"/{variant_name(flags)}")
                extra = dict(device=where, clock=args.clock, batch_size=s.batch, image_size=s.size, rounds=s.rounds,
                             steps=s.steps, load_avg=[load0, load_average()])
                pair = pair_rows(case, t["ours"], t["torchvision"], **extra)
                rows += pair
                if args.control:
                    # torchvision against a second copy of itself: how far apart two identical models measure
                    control = pair_rows(case, t["control"], t["torchvision"], **extra)[1]
                    control.pop("goal")
                    rows.append(control | {"case": case + "/A-A",
                                           "note": "A/A control: torchvision copy/torchvision (noise floor)"})
                if s.device.type == "cuda" and name == "resnet50" and mode == "train" and "bf16" in flags:
                    rows.append(make_row(
                        "speed", f"{case}/published", "samples_per_s", pair[0]["ours"], PUBLISHED_RN50_AMP,
                        "samples/s", note="anchor: NVIDIA A100-80GB AMP 2,470 img/s (timm cl ~2,600)", **extra))
                log(f"  {case}: ours {pair[0]['ours']:.1f}, torchvision {pair[0]['anchor']:.1f} samples/s, "
                    f"ratio {pair[1]['ours']:.3f}")
            del ours, theirs
    if not args.no_trainer and "train" in s.modes:
        rows += trainer_rows(s, log, args)
    if not args.no_recipe:
        from resnet_any.bench import recipe

        rows += recipe.run(s, log, args)
    return rows


def trainer_rows(s: Settings, log: Callable[[str], None], args: argparse.Namespace) -> list[dict]:
    """The Trainer's training throughput on in-memory data against the bare model step (goal >= 0.95).

    One Trainer epoch on digits (held in memory as tensors), then as many bare steps of the same
    model, optimizer and batch shape on a fixed random batch, alternating; the first epoch warms up.
    """
    import tempfile

    from resnet_any import create_model
    from resnet_any.train import TrainConfig, Trainer

    width, size, rounds = (16, 32, min(2, s.rounds)) if args.quick else (32, 64, min(3, s.rounds))
    size, width = args.trainer_size or size, args.trainer_width or width
    with tempfile.TemporaryDirectory(prefix="resnet_any_speed_") as tmp:
        cfg = TrainConfig(domain="image", dataset="digits", image_size=size, model="resnet18", width=width,
                          batch_size=64, epochs=rounds + 1, optimizer="sgd", lr=0.01, schedule="none",
                          label_smoothing=0.0, device=str(s.device), seed=0, out=f"{tmp}/run", quiet=True)
        trainer = Trainer(cfg)
        # the bare step takes the trainer's precision and memory format (bf16 + channels_last by default
        # on a CPU with native bf16): the row measures the trainer's overhead, not the precision's gain
        fmt = torch.channels_last if trainer.plan.channels_last else torch.contiguous_format
        model = create_model(trainer.cfg.model, **trainer.plan.model_spec.kwargs).to(s.device, memory_format=fmt)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=trainer.cfg.momentum,
                              nesterov=bool(trainer.cfg.nesterov))
        batch = trainer.cfg.batch_size
        x = torch.randn(batch, trainer.splits.in_channels, size, size, device=s.device).contiguous(memory_format=fmt)
        y = torch.randint(0, trainer.splits.num_classes, (batch,), device=s.device)

        def bare_step() -> None:
            opt.zero_grad(set_to_none=True)
            with trainer.autocast():
                logits = model(x)
            nn.functional.cross_entropy(logits.float(), y).backward()
            opt.step()

        model.train()
        bare_step()
        ours, bare, whole = [], [], []
        steps = trainer.steps_per_epoch
        samples = trainer.task.size("train")
        for rec in trainer.run():
            if rec["type"] != "epoch":
                continue
            sync(s.device)
            t = time.perf_counter()
            for _ in range(steps):
                bare_step()
            sync(s.device)
            if rec["epoch"] == 1:
                continue  # warm-up for both
            ours.append(rec["samples_per_s"])
            whole.append(samples / rec["seconds"])
            # the Trainer drops a last batch of one sample; the bare loop runs whole batches
            bare.append(min(samples, steps * batch) / (time.perf_counter() - t))
    where = machine(s.device)
    extra = dict(device=where, batch_size=batch, image_size=size, width=width, rounds=rounds, load_avg=load_average())
    rows = pair_rows(f"trainer/resnet18-w{width}/train", ours, bare, ref_name="bare model step", **extra)
    for r in rows:
        if r["metric"] == "ratio":
            r["goal"] = 0.95
    ratios = [a / b for a, b in zip(whole, bare)]
    rows.append(make_row("speed", f"trainer/resnet18-w{width}/epoch", "ratio", statistics.median(ratios), 1.0, "x",
                         stat="median", **summary(ratios), values=[round(v, 4) for v in ratios],
                         note="ours incl. per-epoch validation and checkpoint / bare step", **extra))
    log(f"  trainer: {statistics.median(ours):.1f} samples/s vs bare {statistics.median(bare):.1f}")
    return rows

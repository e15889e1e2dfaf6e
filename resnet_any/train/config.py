"""TrainConfig: every knob of a run, loadable from YAML/JSON and overridable from the CLI."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from resnet_any.errors import UserError, read_text_file

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "warmup_cosine", "step", "onecycle", "plateau", "none")
AMP_MODES = ("off", "bf16", "fp16")
NONFINITE = ("stop", "skip")
# val: keep the epoch of best validation accuracy (ties: lower validation loss).
# train_loss: no held-out split; train on train + val and keep the epoch of lowest training loss
# (Fawaz et al. 2019 on UCR, where a validation split of a 36-series set would score 4 series).
SELECTS = ("val", "train_loss")


@dataclass
class TrainConfig:
    """One training run. None means "not set": recipes.resolve() fills it from the domain/dataset recipe."""

    domain: str | None = None
    dataset: str | None = None
    data_dir: str | None = None
    cache_dir: str | None = None
    model: str | None = None
    model_kwargs: dict | None = None
    width: int | None = None
    depth: int | None = None
    attn: str | None = None
    drop_path: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    # {parameter-name prefix: weight decay}, e.g. {"layer": 0.01}: GCNII decays its convolutions
    # 20x harder than its dense layers; the longest matching prefix wins, others get weight_decay
    weight_decay_by_prefix: dict | None = None
    optimizer: str | None = None
    momentum: float | None = None
    nesterov: bool | None = None
    schedule: str | None = None
    warmup_epochs: int | None = None
    step_size: int | None = None
    gamma: float | None = None
    patience: int | None = None
    label_smoothing: float | None = None
    clip_grad: float | None = None
    device: str | None = None
    amp: str | None = None
    channels_last: bool | None = None
    compile: bool | None = None
    seed: int | None = None
    out: str | None = None
    resume: bool | None = None
    init: str | None = None
    freeze_backbone: bool | None = None
    quiet: bool | None = None
    workers: int | None = None
    val_fraction: float | None = None
    select: str | None = None
    image_size: int | None = None
    on_nonfinite: str | None = None
    sync_bn: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (what config.json and checkpoints hold)."""
        return asdict(self)

    def explicit(self) -> dict[str, Any]:
        """Only the fields that were set."""
        return {k: v for k, v in self.to_dict().items() if v is not None}

    def merged(self, overrides: dict[str, Any]) -> "TrainConfig":
        """A copy with the non-None values of `overrides` applied on top."""
        return TrainConfig.from_dict({**self.to_dict(), **{k: v for k, v in overrides.items() if v is not None}})

    @staticmethod
    def from_dict(data: dict[str, Any], source: str = "config") -> "TrainConfig":
        """Build from a mapping; keys may use dashes; an unknown key is a UserError naming the valid ones."""
        if not isinstance(data, dict):
            raise UserError(f"{source} must be a mapping of option: value, got {type(data).__name__}")
        names = {f.name for f in fields(TrainConfig)}
        clean = {}
        for key, value in data.items():
            k = str(key).replace("-", "_")
            if k not in names:
                raise UserError(f"{source}: unknown key {key!r}; valid keys: {', '.join(sorted(names))}")
            clean[k] = value
        return TrainConfig(**clean)


def load_config_file(path: str | Path) -> TrainConfig:
    """Read a YAML or JSON config file (JSON by .json suffix, YAML otherwise)."""
    p = Path(path)
    text = read_text_file(p, "config file")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:  # yaml and json raise different types; the message is what matters
        msg = " ".join(str(e).split())
        raise UserError(f"config file {str(p)!r} is not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {msg}") from None
    if data is None:
        data = {}
    return TrainConfig.from_dict(data, source=f"config file {str(p)!r}")


_INT_MIN = {"epochs": 1, "batch_size": 1, "warmup_epochs": 0, "step_size": 1, "patience": 0, "workers": 0,
            "image_size": 1, "width": 1, "depth": 1, "seed": 0}
_POSITIVE = ("lr", "clip_grad", "gamma")
_NON_NEGATIVE = ("weight_decay", "momentum", "drop_path")
_CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "amp": AMP_MODES, "on_nonfinite": NONFINITE, "select": SELECTS}
_BOOLS = ("nesterov", "channels_last", "compile", "resume", "freeze_backbone", "quiet", "sync_bn")
_STRINGS = ("domain", "dataset", "data_dir", "cache_dir", "model", "attn", "device", "out", "init")


def validate(cfg: TrainConfig) -> None:
    """Check every set value's type and range; raise a UserError naming the first bad one."""
    for name, lo in _INT_MIN.items():
        v = getattr(cfg, name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int):
            raise UserError(f"--{_flag(name)} must be an integer, got {v!r}")
        if v < lo:
            raise UserError(f"--{_flag(name)} must be >= {lo}, got {v}")
    for name in _POSITIVE + _NON_NEGATIVE + ("label_smoothing", "val_fraction"):
        v = getattr(cfg, name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise UserError(f"--{_flag(name)} must be a finite number, got {v!r}")
        if name in _POSITIVE and v <= 0:
            raise UserError(f"--{_flag(name)} must be > 0, got {v}")
        if name in _NON_NEGATIVE and v < 0:
            raise UserError(f"--{_flag(name)} must be >= 0, got {v}")
    if cfg.label_smoothing is not None and not 0 <= cfg.label_smoothing < 1:
        raise UserError(f"--label-smoothing must be in [0, 1), got {cfg.label_smoothing}")
    if cfg.val_fraction is not None and not 0 < cfg.val_fraction < 1:
        raise UserError(f"--val-fraction must be in (0, 1), got {cfg.val_fraction}")
    if cfg.drop_path is not None and cfg.drop_path >= 1:
        raise UserError(f"--drop-path must be in [0, 1), got {cfg.drop_path}")
    for name, choices in _CHOICES.items():
        v = getattr(cfg, name)
        if v is not None and v not in choices:
            raise UserError(f"unknown --{_flag(name)} {v!r}; valid: {', '.join(choices)}")
    for name in _BOOLS:
        v = getattr(cfg, name)
        if v is not None and not isinstance(v, bool):
            raise UserError(f"{name} must be true or false, got {v!r}")
    for name in _STRINGS:
        v = getattr(cfg, name)
        if v is not None and not isinstance(v, str):
            raise UserError(f"{name} must be a string, got {v!r}")
    if cfg.model_kwargs is not None and not isinstance(cfg.model_kwargs, dict):
        raise UserError(f"model_kwargs must be a mapping, got {cfg.model_kwargs!r}")
    by_prefix = cfg.weight_decay_by_prefix
    if by_prefix is not None and not isinstance(by_prefix, dict):
        raise UserError(f"weight_decay_by_prefix must be a mapping of name prefix: weight decay, got {by_prefix!r}")
    for prefix, v in (by_prefix or {}).items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise UserError(f"weight_decay_by_prefix[{prefix!r}] must be a number >= 0, got {v!r}")
    if cfg.amp == "fp16" and cfg.device == "cpu":
        raise UserError("--amp fp16 needs a CUDA device (this run is on cpu); use --amp bf16 or off")
    if cfg.device is not None and not (cfg.device in ("auto", "cpu", "mps") or cfg.device.startswith("cuda")):
        raise UserError(f"unknown --device {cfg.device!r}; valid: auto, cpu, cuda, cuda:N")


# A directory holds a run worth keeping once it has last.pt; a run stopped before its first checkpoint
# landed left nothing resumable and may be started over (the refusal lists every run file present).
RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl")


def check_out(cfg: TrainConfig) -> None:
    """Refuse a fresh run in a directory holding one, and a --resume without a checkpoint (no torch needed)."""
    if cfg.resume:
        if not cfg.out:
            raise UserError("--resume needs --out DIR: the run directory to continue")
        if not (Path(cfg.out) / "last.pt").is_file():
            raise UserError(f"--resume: no checkpoint {str(Path(cfg.out) / 'last.pt')!r} to continue from (no epoch "
                            "finished there); run without --resume to start afresh")
        return
    if cfg.out is None:
        return
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {str(out)!r} exists and is not a directory")
    present = [f for f in RUN_FILES if (out / f).is_file() and (out / f).stat().st_size > 0]
    # without last.pt there is nothing --resume could continue (a run killed before its first checkpoint
    # landed): refusing a fresh start too would leave the directory unusable
    if "last.pt" in present:
        raise UserError(f"--out {str(out)!r} already holds a run ({', '.join(present)}); add --resume "
                        "to continue it, or choose another --out")


def _flag(name: str) -> str:
    return name.replace("_", "-")

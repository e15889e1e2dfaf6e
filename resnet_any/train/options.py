"""Every training option, defined once: the CLI flags, config-file keys, `fit(**options)` and validation come from here.

An `Option` names a knob (type, range or choices, help, CLI group, whether a resumed run may change it).
From the one table below this module generates:
- `TrainConfig`, the options as given (every field None until set: a CLI, a file, `fit` or the app);
- `RunConfig`, the same fields fully resolved by the plan (`resnet_any.train.plan`), frozen;
- `validate(cfg)`, which checks every set value against its option;
- `add_arguments(parser)`, the argparse flags of `python -m resnet_any.train`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from resnet_any.errors import UserError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "warmup_cosine", "step", "onecycle", "plateau", "none")
AMP_MODES = ("auto", "off", "bf16", "fp16")
NONFINITE = ("stop", "skip")
# val (= val_acc): keep the epoch of best validation accuracy (ties: lower validation loss); val_loss,
# val_macro_f1, val_balanced_accuracy: the epoch best on that validation metric (see selection.py).
# train_loss: no held-out split; train on train + val and keep the epoch of lowest training loss
# (Fawaz et al. 2019 on UCR, where a validation split of a 36-series set would score 4 series).
# Regression and multi-label add theirs (val = val_rmse for regress, val_map for multilabel).
SELECTS = ("val", "val_acc", "val_loss", "val_macro_f1", "val_balanced_accuracy", "val_auroc", "val_rmse", "val_mae",
           "val_r2", "val_map", "val_micro_f1", "train_loss")
TASKS = ("classify", "regress", "multilabel")
LOSSES = ("auto", "mse", "huber")
CLASS_WEIGHTS = ("none", "auto")
SAMPLERS = ("shuffle", "balanced")
SAMPLING = ("auto", "full", "neighbor")
FEATURE_NORMS = ("none", "row", "standardize")  # data/graph_features.py applies them


@dataclass(frozen=True)
class Option:
    """One training option: its type, valid values, help and where it shows up."""

    name: str
    type: type                       # int, float, str, bool or dict
    help: str = ""
    group: str = "run"               # the CLI's help section: data, model, optimization, run
    choices: tuple[str, ...] = ()
    low: float | None = None         # inclusive unless low_open
    high: float | None = None        # exclusive unless high_closed
    low_open: bool = False
    high_closed: bool = False
    # options a resumed run may change: they change how it runs, not what it computes
    resume_mutable: bool = False
    # the resolved value may stay None, with the meaning the help gives ("none" = off / not used)
    optional: bool = False
    check: Callable[[Any], str | None] | None = None   # extra check: a message, or None when fine
    # the value when neither a recipe, a file nor a flag sets it; RECIPE: a recipe must (model, epochs, ...)
    default: Any = None

    @property
    def flag(self) -> str:
        """The command-line spelling: --batch-size for batch_size."""
        return "--" + self.name.replace("_", "-")


RECIPE = object()  # marks options whose value the domain's recipe (or the plan) always sets


def _device_check(value: str) -> str | None:
    if value in ("auto", "cpu", "mps") or value.startswith("cuda"):
        return None
    return f"unknown --device {value!r}; valid: auto, cpu, cuda, cuda:N"


def _decay_by_prefix_check(value: dict) -> str | None:
    for prefix, v in value.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            return f"weight_decay_by_prefix[{prefix!r}] must be a number >= 0, got {v!r}"
    return None


_O = Option
OPTIONS: tuple[Option, ...] = (
    # ---- data
    _O("domain", str, "image, series, graph or volume (inferred from the data for fit)", "data", default=RECIPE),
    _O("dataset", str, "a dataset name (case-insensitive) or a path to your own files; default: the domain's "
       "embedded one", "data", default=RECIPE),
    _O("data_dir", str, "where a named dataset's files are", "data", resume_mutable=True, optional=True),
    _O("cache_dir", str, "writable cache for processed data", "data", resume_mutable=True, optional=True),
    _O("task", str, "classify, regress (numbers) or multilabel (tag sets); default: inferred from the labels "
       "(non-integer numbers regress, 'a;b' tag lists or several 0/1 columns multilabel), said in a note", "data",
       choices=TASKS, optional=True),
    _O("label_column", str, "the label column of a series table (wide layout), nodes.csv or graphs.csv; several targets: a,b,c", "data",
       default="label"),
    _O("directed", bool, "keep the edges of an edge list as given (default: undirected)", "data", default=False),
    _O("feature_norm", str, "node features of a node task: row (each row sums to 1, bag-of-words), standardize "
       "(columns to mean 0, sd 1) or none; default: derived from the features", "data", choices=FEATURE_NORMS,
       optional=True),
    _O("val_fraction", float, "fraction of train held out for validation", "data", low=0, high=1, low_open=True, default=0.2),
    _O("select", str, f"{', '.join(SELECTS)}: the metric that picks the kept epoch (val = val_acc); train_loss "
       "trains on train + val and keeps the lowest-training-loss epoch (tiny sets)", "data", choices=SELECTS,
       default="val"),
    _O("sampler", str, "shuffle, or balanced: every class drawn equally often (sampling with replacement)", "data",
       choices=SAMPLERS, default="shuffle"),
    _O("sampling", str, "node tasks: full (the whole graph each step), neighbor (sampled neighbourhoods of --batch-size "
       "seed nodes a step; evaluation still sees every neighbour) or auto: neighbor when full batch would pass half "
       "the free memory", "data", choices=SAMPLING, default="auto"),
    _O("image_size", int, "resize images to this side length", "data", low=1),
    _O("workers", int, "DataLoader worker processes", "data", low=0, resume_mutable=True, default=0),
    # ---- model
    _O("model", str, "registry name, e.g. resnet18, se_resnet50, series_resnet, gcn_resnet, resnet3d18", "model", default=RECIPE),
    _O("model_kwargs", dict, 'extra model arguments as JSON, e.g. \'{"dropout": 0.3}\'', "model", default={}),
    _O("width", int, "first-stage width (hidden channels for graphs)", "model", low=1, optional=True),
    _O("depth", int, "depth: picks resnet18/34/50/.. for grid models, layers for graphs", "model", low=1,
       optional=True),
    _O("attn", str, "attention in blocks, e.g. se (none to disable)", "model", optional=True),
    _O("drop_path", float, "stochastic depth rate", "model", low=0, high=1, optional=True),
    _O("init", str, "initial weights: a resnet_any checkpoint or a torchvision-format state_dict", "model",
       resume_mutable=True, optional=True),
    _O("freeze_backbone", bool, "train only the classifier", "model", default=False),
    _O("pretrained", bool, "start from torchvision's ImageNet weights (image models it publishes weights for; "
       "read from TORCH_HOME's cache, never downloaded)", "model", default=False),
    # ---- optimization
    _O("epochs", int, "training epochs", "optimization", low=1, resume_mutable=True, default=RECIPE),
    _O("batch_size", int, "GLOBAL batch: under torchrun each of the N processes takes batch/N (must divide)",
       "optimization", low=1, default=RECIPE),
    _O("lr", float, "peak learning rate", "optimization", low=0, low_open=True, default=1e-3),
    _O("weight_decay", float, "(not applied to norms and biases)", "optimization", low=0, default=0.0),
    _O("weight_decay_by_prefix", dict, 'per-name-prefix weight decay as JSON, e.g. \'{"layer": 0.01}\' (longest '
       'prefix wins)', "optimization", check=_decay_by_prefix_check, default={}),
    _O("optimizer", str, ", ".join(OPTIMIZERS), "optimization", choices=OPTIMIZERS, default="adamw"),
    _O("momentum", float, "SGD momentum", "optimization", low=0, default=0.9),
    _O("nesterov", bool, "Nesterov momentum for SGD", "optimization", default=True),
    _O("schedule", str, ", ".join(SCHEDULES), "optimization", choices=SCHEDULES, default="cosine"),
    _O("warmup_epochs", int, "epochs of linear warm-up", "optimization", low=0, default=0),
    _O("step_size", int, "epochs between decays of the step schedule", "optimization", low=1, default=RECIPE),
    _O("gamma", float, "decay factor of the step and plateau schedules", "optimization", low=0, low_open=True, default=0.1),
    _O("patience", int, "epochs without improvement before plateau decays", "optimization", low=0, default=5),
    _O("loss", str, "regression loss on standardized targets: auto (= mse), mse or huber (ignored by other tasks)",
       "optimization", choices=LOSSES, default="auto"),
    _O("label_smoothing", float, "label smoothing of the training loss", "optimization", low=0, high=1, default=0.0),
    _O("class_weights", str, "none, or auto: weight the loss by inverse class frequency of the training split (multilabel: "
       "each tag's positives by its negatives over positives)",
       "optimization", choices=CLASS_WEIGHTS, default="none"),
    _O("mixup", float, "mixup's Beta(a, a) parameter (images and series; 0: off)", "optimization", low=0, default=0.0),
    _O("cutmix", float, "CutMix's Beta(a, a) parameter (images; 0: off)", "optimization", low=0, default=0.0),
    _O("ema", float, "decay of an exponential moving average of the weights, which is then evaluated, selected "
       "and checkpointed (none: off)", "optimization", low=0, high=1, low_open=True, optional=True),
    _O("early_stop", int, "stop after this many epochs without a gain in the --select metric (none: off)",
       "optimization", low=1, resume_mutable=True, optional=True),
    _O("min_delta", float, "the least change of the --select metric that counts as a gain for --early-stop",
       "optimization", low=0, resume_mutable=True, default=0.0),
    _O("clip_grad", float, "max gradient norm (none: no clipping)", "optimization", low=0, low_open=True,
       optional=True),
    _O("on_nonfinite", str, f"{' or '.join(NONFINITE)} on a NaN/inf loss", "optimization", choices=NONFINITE,
       resume_mutable=True, default="stop"),
    # ---- run
    _O("device", str, "auto, cpu, cuda or cuda:N", resume_mutable=True, check=_device_check, default="auto"),
    _O("amp", str, "autocast precision: auto (bf16 where the CPU or GPU computes it natively, except graphs; "
       "else fp32), off, bf16, fp16 (CUDA)", choices=AMP_MODES, resume_mutable=True, default="auto"),
    _O("channels_last", bool, "channels_last memory format (default: on for images)", resume_mutable=True,
       optional=True),
    _O("compile", bool, "torch.compile the model", resume_mutable=True, default=False),
    _O("seed", int, "seed of weights, sample order, dropout and augmentation", low=0, default=0),
    _O("out", str, "run directory (default runs/<domain>-<timestamp>)", resume_mutable=True, default=RECIPE),
    _O("resume", bool, "continue the run in --out from last.pt", resume_mutable=True, default=False),
    _O("quiet", bool, "print only the final line", resume_mutable=True, default=False),
    _O("sync_bn", bool, "under torchrun on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm)", default=False),
)
BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}
# every option's value when no recipe, file or flag sets it (None only where the option says "not used")
DEFAULTS: dict[str, Any] = {o.name: o.default for o in OPTIONS if o.default is not RECIPE}
RESUME_MUTABLE = frozenset(o.name for o in OPTIONS if o.resume_mutable)


class _Given:
    """Methods of TrainConfig (the options as given, None = not set)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every option."""
        return dataclasses.asdict(self)

    def explicit(self) -> dict[str, Any]:
        """Only the options that were set."""
        return {k: v for k, v in self.to_dict().items() if v is not None}

    def merged(self, overrides: dict[str, Any]) -> "TrainConfig":
        """A copy with the non-None values of `overrides` applied on top."""
        return TrainConfig.from_dict({**self.to_dict(), **{k: v for k, v in overrides.items() if v is not None}})

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "TrainConfig":
        """Build from a mapping; keys may use dashes; an unknown key is a UserError naming the valid ones."""
        if not isinstance(data, dict):
            raise UserError(f"{source} must be a mapping of option: value, got {type(data).__name__}")
        clean = {}
        for key, value in data.items():
            k = str(key).replace("-", "_")
            if k not in BY_NAME:
                raise UserError(f"{source}: unknown key {key!r}; valid keys: {', '.join(sorted(BY_NAME))}")
            clean[k] = value
        return TrainConfig(**clean)


class _Resolved:
    """Methods of RunConfig (every option resolved by the plan)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (what config.json and checkpoints hold)."""
        return dataclasses.asdict(self)

    def explicit(self) -> dict[str, Any]:
        """The options holding a value (all but those resolved to None, meaning "not used")."""
        return {k: v for k, v in self.to_dict().items() if v is not None}

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with some options changed."""
        return dataclasses.replace(self, **changes)


def _annotation(o: Option, optional: bool) -> Any:
    return o.type | None if optional else o.type


TrainConfig = dataclasses.make_dataclass(
    "TrainConfig", [(o.name, _annotation(o, True), field(default=None)) for o in OPTIONS], bases=(_Given,),
    namespace={"__doc__": "One training run's options as given; None means not set (the plan resolves it).",
               "__module__": __name__})
# `model_kwargs` and `weight_decay_by_prefix` resolve to mappings ({} when empty); options marked optional
# keep None as their documented "not used" value. Nothing else is None after the plan.
RunConfig = dataclasses.make_dataclass(
    "RunConfig", [(o.name, _annotation(o, o.optional)) for o in OPTIONS], bases=(_Resolved,), frozen=True,
    namespace={"__doc__": "A fully resolved run: every option set (see resnet_any.train.plan).",
               "__module__": __name__})


def _is(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


def _range_text(o: Option) -> str:
    if o.low is not None and o.high is not None:
        return f"in {'(' if o.low_open else '['}{o.low:g}, {o.high:g}{']' if o.high_closed else ')'}"
    if o.low is not None:
        return f"{'>' if o.low_open else '>='} {o.low:g}"
    return f"{'<=' if o.high_closed else '<'} {o.high:g}"


def check_value(o: Option, v: Any) -> None:
    """Raise a UserError unless `v` is a valid value of option `o`."""
    if not _is(v, o.type):
        what = {int: "an integer", float: "a finite number", bool: "true or false", str: "a string",
                dict: "a mapping"}[o.type]
        raise UserError(f"{o.flag} must be {what}, got {v!r}", public=True)
    if o.choices and v not in o.choices:
        raise UserError(f"unknown {o.flag} {v!r}; valid: {', '.join(o.choices)}", public=True)
    if o.low is not None or o.high is not None:
        bad = ((o.low is not None and (v <= o.low if o.low_open else v < o.low))
               or (o.high is not None and (v > o.high if o.high_closed else v >= o.high)))
        if bad:
            raise UserError(f"{o.flag} must be {_range_text(o)}, got {v}", public=True)
    if o.check is not None:
        message = o.check(v)
        if message:
            raise UserError(message)


def validate(cfg: Any) -> None:
    """Check every set option of a TrainConfig or RunConfig; raise a UserError naming the first bad one."""
    for o in OPTIONS:
        v = getattr(cfg, o.name)
        if v is not None:
            check_value(o, v)
    if cfg.device == "cpu":
        problem = amp_on_device(cfg.amp, "cpu")  # known before torch loads: say it at once
        if problem:
            raise UserError(problem)


def amp_on_device(amp: str | None, device_type: str) -> str | None:
    """Why an explicit --amp cannot run on this kind of device (the one rule, torch-free), or None."""
    if amp == "fp16" and device_type != "cuda":
        return f"--amp fp16 needs a CUDA device (this run is on {device_type}); use --amp bf16 or off"
    return None


def _json_mapping(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


GROUPS = ("data", "model", "optimization", "run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per option, grouped; each defaults to None so only given flags override."""
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    for o in OPTIONS:
        kwargs: dict[str, Any] = {"help": o.help, "default": None}
        if o.type is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif o.type is dict:
            kwargs["type"] = _json_mapping
        elif o.type in (int, float):
            kwargs["type"] = o.type
        groups[o.group].add_argument(o.flag, **kwargs)

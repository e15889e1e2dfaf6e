"""Plan: options (CLI, config file, `fit`, the app) plus data -> one fully resolved run, checked once.

`make_plan` is the only place that validates options, merges a resumed run's saved config, loads the
data, resolves the recipe, joins a torchrun process group and builds the model. What it returns has no
"not yet decided" left in it; the loop (trainer.py) only runs it. Nothing is written to the run
directory here (data readers may fill their cache), so a bad option never damages an existing run.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from resnet_any.data.base import DataSplits
from resnet_any.errors import UserError
from resnet_any.train import distributed, hardware, recipes
from resnet_any.files import is_resnet_any, read_checkpoint
from resnet_any.domains.weights import init_from
from resnet_any.train.config import check_out
from resnet_any.train.derive import derive, describe, profile
from resnet_any.train.options import DEFAULTS, OPTIONS, RESUME_MUTABLE, RunConfig, TrainConfig, validate
from resnet_any.train.state import seed_everything

# Datasets are split with one fixed seed so runs with different --seed are scored on the same test set.
SPLIT_SEED = 0


@dataclass(frozen=True)
class ModelSpec:
    """How the model is rebuilt from a checkpoint: a registry name and its arguments, or a user's class."""

    name: str | None          # registry name; None for a model the user built
    kwargs: dict[str, Any]    # the registry builder's arguments (num_classes and in_channels included)
    cls: str                  # "module.QualifiedName" of the model's class, for messages


@dataclass
class Plan:
    """A run, fully resolved: every option, the data, the model on its device, where it writes, what it resumes."""

    config: RunConfig
    splits: DataSplits
    model: nn.Module                 # the bare model (no DDP/compile wrapper), seeded and initialised
    model_spec: ModelSpec
    device: torch.device
    dist: distributed.DistInfo
    out: Path
    batch_size: int                  # this process's batch: the global batch over the processes, clamped to the data
    resume: dict[str, Any] | None    # the checkpoint to continue from
    init_report: dict[str, Any] | None
    owns_group: bool                 # this run joined the torchrun process group and leaves it at the end
    notes: list[str] = field(default_factory=list)   # choices made for the user, said once and recorded
    # the epochs the rules (or a published recipe) would run where the user's --epochs replaced them; None when
    # the user left epochs alone or no rule derives them (graphs). Health warns a short, weak try with it
    epoch_budget: int | None = None

    @property
    def selects_on_val(self) -> bool:
        """Whether the best epoch is chosen on a validation split (else on training loss, with none held out)."""
        return self.config.select != "train_loss"

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None for full precision."""
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.config.amp)

    @property
    def channels_last(self) -> bool:
        """channels_last applies to image batches (4-D) only."""
        return bool(self.config.channels_last) and self.config.domain == "image"

    @property
    def precision(self) -> str:
        """The run's precision and memory format in words, for its first line."""
        return hardware.describe(self.config.amp, self.channels_last, self.config.domain, self.device)


def pick_device(name: str) -> torch.device:
    """Resolve auto|cpu|cuda[:N]|mps to a device that exists, or raise a UserError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {name} but no CUDA device is available; use --device cpu or auto")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"--device {name} but only {torch.cuda.device_count()} CUDA device(s) exist")
        return dev
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("--device mps but MPS is not available; use --device cpu or auto")
    return torch.device(name)


def default_out(domain: str) -> Path:
    """runs/<domain>-<timestamp>, suffixed when that exists."""
    base = Path("runs") / f"{domain}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return out


def check_model_domain(model: str, domain: str) -> None:
    """Raise a UserError unless `model` is a registered model of `domain` (listing those that are)."""
    from resnet_any.domains import list_models, model_domain

    if model_domain(model) != domain:
        raise UserError(f"model {model!r} is a {model_domain(model)} model, not {domain}; "
                        f"valid: {', '.join(list_models(domain))}")


def class_path(model: nn.Module) -> str:
    """"module.QualifiedName" of a model's class."""
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def _resume_config(cfg: TrainConfig) -> tuple[TrainConfig, dict[str, Any]]:
    """The saved run's options with the ones a resume may change applied; refuses any other change."""
    path = Path(cfg.out) / "last.pt"
    ckpt = read_checkpoint(path)
    if not is_resnet_any(ckpt):
        raise UserError(f"--resume: {str(path)!r} is not a resnet_any checkpoint")
    saved = TrainConfig.from_dict(ckpt["config"], source=f"config in {str(path)!r}")
    for key, value in cfg.explicit().items():
        if key in RESUME_MUTABLE:
            continue
        old = getattr(saved, key)
        same = (_same_dataset(value, old, saved.domain, saved.data_dir) if key == "dataset" else
                all(old.get(k) == v for k, v in value.items()) if isinstance(value, dict) and isinstance(old, dict)
                else value == old)
        if not same:
            raise UserError(f"--{key.replace('_', '-')} cannot change on --resume (the run in {cfg.out} "
                            f"used {old!r}); start a fresh run with another --out instead")
    return saved.merged({k: v for k, v in cfg.explicit().items() if k in RESUME_MUTABLE and k != "init"}), ckpt


def _load_data(cfg: TrainConfig, domain: str, pretrained: str | None = None) -> DataSplits:
    """The named or given dataset; images sized as --image-size says, else as `pretrained`'s weights were trained."""
    from resnet_any.data import load_dataset

    # only the file readers take these two (a table's label column, an edge list's direction)
    readers = {k: v for k, v in (("label_column", cfg.label_column), ("directed", cfg.directed)) if v is not None}
    size = cfg.image_size
    if size is None and pretrained is not None:
        from resnet_any.domains.pretrained import preprocessing

        size = preprocessing(pretrained, 3)["image_size"]
    return load_dataset(domain, cfg.dataset, cfg.data_dir, seed=SPLIT_SEED,
                        val_fraction=cfg.val_fraction if cfg.val_fraction is not None else 0.2,
                        image_size=size, cache_dir=cfg.cache_dir, **readers)


def _pretrained_model(cfg: TrainConfig, domain: str, own: nn.Module | None) -> str:
    """The registry model whose ImageNet weights --pretrained loads, known before the data (their crop sizes it)."""
    from resnet_any.domains.pretrained import MODELS, weights_file, weights_of

    if own is not None:
        raise UserError("--pretrained loads torchvision's weights into a registry model; this run trains your own "
                        "model: load its weights into it yourself")
    if cfg.init:
        raise UserError("--pretrained and --init both set the initial weights; give one of them")
    if cfg.resume or domain != "image":
        name = cfg.model
    else:
        from resnet_any.data import default_dataset

        # the recipe's model (with --depth applied); data-derived values never change which model it is
        name = recipes.resolve(cfg, "classify", cfg.dataset or default_dataset(domain),
                               recorded=_recorded_dataset(cfg, domain)).model
    if name is None:
        raise UserError(f"--pretrained: {domain} models have no published ImageNet weights; models with them: "
                        f"{', '.join(MODELS)}")
    # a resumed run's weights come from last.pt; a fresh one needs the file (its channels are checked at build)
    if cfg.resume:
        weights_of(name)
    else:
        weights_file(name)
    return name


def _weights_preprocessing(splits: DataSplits, name: str) -> DataSplits:
    """The data standardised as `name`'s weights were trained: their mean/std replace the data's."""
    import dataclasses

    from resnet_any.domains.pretrained import preprocessing

    if "mean" not in splits.meta:  # float images given to fit are not standardised by the task: theirs to do
        return splits
    pre = preprocessing(name, splits.in_channels)
    return dataclasses.replace(splits, meta={**splits.meta, "mean": pre["mean"], "std": pre["std"]})


def _domain_of_files(cfg: TrainConfig) -> str | None:
    """The domain of --dataset PATH read from its files (a folder of train/test tables is series, ...)."""
    from resnet_any.data import infer_domain

    return infer_domain(cfg.dataset) if cfg.dataset else None


def _recorded_dataset(cfg: TrainConfig, domain: str) -> str | None:
    """A path to the user's own files as an absolute path (resume and evaluate may run elsewhere); None for names."""
    from resnet_any.data import dataset_path

    path = dataset_path(domain, cfg.dataset, cfg.data_dir)
    return str(path.resolve()) if path is not None else None


def _local_batch(config: RunConfig, splits: DataSplits, dist: distributed.DistInfo) -> int:
    """This process's batch: the global batch divided by the processes; a batch above the data is clamped, said once."""
    n = len(splits.train) if splits.train is not None else 0
    bs, world = config.batch_size, dist.world_size
    if splits.task != "node" and 0 < n < bs:
        n = max(world, n - n % world)  # the ranks split it evenly
        if dist.is_main:
            print(f"warning: batch size {bs} is larger than the {n} training samples; using {n}", file=sys.stderr)
        return n // world
    return bs // world


def _join_group(config: RunConfig, splits: DataSplits, device: torch.device,
                dist: distributed.DistInfo) -> tuple[distributed.DistInfo, torch.device, bool]:
    """Under torchrun: check the global batch divides, then join the process group (one process: nothing)."""
    if not dist.enabled:
        return dist, device, False
    if splits.task == "node":
        # one graph in one full batch: there is nothing to split, and copies on every rank would only
        # repeat the same step, so rank 0 trains alone and the others leave before joining a group
        if not dist.is_main:
            raise distributed.NotThisRank
        print(f"note: full-batch node classification ({splits.name}) runs in one process: rank 0 trains "
              f"alone, the other {dist.world_size - 1} rank(s) exit", file=sys.stderr)
        return distributed.DistInfo(), device, False
    if config.batch_size % dist.world_size:
        raise UserError(f"--batch-size {config.batch_size} is the global batch and must divide by the "
                        f"{dist.world_size} processes (each takes batch/{dist.world_size})")
    if config.sync_bn and device.type == "cpu":
        raise UserError("--sync-bn needs GPUs (torch's SyncBatchNorm does not run on CPU); drop it for CPU runs")
    owns = not torch.distributed.is_initialized()
    return dist, distributed.setup(dist, device), owns


def _build_model(config: RunConfig, splits: DataSplits, device: torch.device,
                 own: nn.Module | None) -> tuple[nn.Module, ModelSpec, dict[str, Any] | None]:
    """The registry model the config names (or the user's own), seeded, initialised, frozen as asked, on the device."""
    seed_everything(config.seed)
    if own is None:
        from resnet_any.domains import create_model

        kwargs = {**config.model_kwargs, "num_classes": splits.num_classes, "in_channels": splits.in_channels}
        # a resumed run's weights come from last.pt, not the weights file
        model = create_model(config.model, pretrained=config.pretrained and not config.resume, **kwargs)
        spec = ModelSpec(config.model, kwargs, class_path(model))
    else:
        model, spec = own, ModelSpec(None, {}, class_path(own))
    head = getattr(model, "fc", None)
    if own is None and not isinstance(head, nn.Linear):
        raise UserError(f"model {config.model!r} has no `fc` classifier; cannot train it here")
    report = init_from(model, config.init) if config.init and not config.resume else None
    if config.freeze_backbone:
        if not isinstance(head, nn.Module):
            raise UserError(f"--freeze-backbone trains only `model.fc`, and {spec.cls} has no `fc` module")
        for p in model.parameters():
            p.requires_grad_(False)
        for p in head.parameters():
            p.requires_grad_(True)
    model.to(device)
    if config.channels_last and config.domain == "image":
        model.to(memory_format=torch.channels_last)
    return model, spec, report


def _same_dataset(given: str, saved: Any, domain: str | None, data_dir: str | None) -> bool:
    """Whether a resumed run names the saved dataset: a path by where it points, a name case-insensitively."""
    from resnet_any.data import dataset_path

    path = dataset_path(domain, given, data_dir) if domain else None
    if path is not None:
        return str(path.resolve()) == str(saved)
    return given.lower() == str(saved).lower()


def _resumed_config(saved: dict[str, Any], cfg: TrainConfig, out: Path) -> RunConfig:
    """The saved run's resolved options with the ones a resume may change applied (no recipe is re-read).

    Resolving again would let a recipe changed since the run was saved leak into its model; options a
    checkpoint from an older version lacks take their defaults.
    """
    values = {**recipes.BASE, **saved}
    values.update({k: v for k, v in cfg.explicit().items() if k in RESUME_MUTABLE and k != "init"})
    values.update(out=str(out), resume=True)
    unknown = [o.name for o in OPTIONS if o.name not in values]
    if unknown:
        raise UserError(f"--resume: the checkpoint's config lacks {', '.join(unknown)}; it is not resumable")
    return RunConfig(**{o.name: values[o.name] for o in OPTIONS})


def _check_resumed_data(ckpt: dict[str, Any], splits: DataSplits) -> None:
    """Refuse a resume whose data is not the run's: other classes, or other split sizes (files changed)."""
    from resnet_any.data.tables import list_names

    names = [str(c) for c in ckpt.get("class_names", [])]
    if names and names != [str(c) for c in splits.class_names]:
        raise UserError(f"--resume: the data's classes {list_names(splits.class_names)} are not the run's "
                        f"{list_names(names)}; resume with the run's data")
    saved = ckpt.get("split_sizes")
    now = split_sizes(splits)
    if saved and saved != now:
        diff = next(k for k in now if saved.get(k) != now[k])
        raise UserError(f"--resume: the data's {diff} split holds {now[diff]} samples, the run's held {saved.get(diff)}; "
                        "resume with the run's data and val_fraction")


def split_sizes(splits: DataSplits) -> dict[str, int]:
    """Samples (nodes for one graph) per split: what a checkpoint records to recognise its data."""
    if splits.task == "node":
        g = splits.graph
        return {k: int(g[f"{k}_mask"].sum()) if getattr(g, f"{k}_mask", None) is not None else 0
                for k in ("train", "val", "test")}
    return {k: len(getattr(splits, k)) if getattr(splits, k) is not None else 0 for k in ("train", "val", "test")}


def _shared_out(out: Path | None, domain: str, dist: distributed.DistInfo) -> Path:
    """The run directory; under torchrun rank 0's default is broadcast so every process writes and reads the same."""
    if out is not None:
        return out
    chosen = [str(default_out(domain))]
    if dist.enabled and torch.distributed.is_initialized():
        torch.distributed.broadcast_object_list(chosen, src=0)
    return Path(chosen[0])


def make_plan(options: TrainConfig, *, model: nn.Module | None = None, data: Any = None) -> Plan:
    """Resolve options (+ optionally the user's own model and data) into a Plan; every check happens here, once.

    `data` is a DataSplits or what `fit` takes from Python (a tuple of its train, val and test arguments),
    turned into DataSplits here, after a resumed run's options are known (its val_fraction decides the carving).
    """
    validate(options)
    check_out(options)
    cfg, resume = options, None
    if cfg.resume:
        cfg, resume = _resume_config(cfg)
    if isinstance(data, tuple):
        from resnet_any.data.python import as_splits

        data = as_splits(*data, seed=SPLIT_SEED, val_fraction=cfg.val_fraction or DEFAULTS["val_fraction"],
                         domain=cfg.domain)
    found = None if cfg.domain is not None else data.domain if data is not None else _domain_of_files(cfg)
    inferred = found is not None
    if inferred:
        cfg = cfg.merged({"domain": found})
    if model is not None:
        saved = (resume or {}).get("model_class")
        if resume is not None and saved and saved != class_path(model):
            raise UserError(f"--resume: the run in {cfg.out} trained a {saved}, not a {class_path(model)}; pass the "
                            "same model class again")
    if model is None and data is not None and cfg.domain == "custom":
        shape = tuple(data.meta.get("shape") or ())
        raise UserError(f"samples shaped {shape} fit no registry model: reshape them to (1, {shape[-1] if shape else 'L'}) "
                        "for a series or (C, H, W) for images, or pass your own nn.Module")
    domain = cfg.domain if model is not None else recipes.check_domain(cfg.domain)
    if domain is None:
        raise UserError(f"choose a domain (domain= or --domain): {', '.join(recipes.DOMAINS)}")
    # cheap checks before the (slow) data load, so a typo fails at once
    device = pick_device(cfg.device or "auto")
    if cfg.amp == "fp16" and device.type != "cuda":
        raise UserError(f"--amp fp16 needs a CUDA device (this run is on {device.type}); use --amp bf16 or off")
    if cfg.amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError("--amp bf16 is not supported by this GPU; use --amp fp16")
    if model is None and cfg.model is not None:
        check_model_domain(cfg.model, domain)
    # before the data load: a model without weights fails at once, and the weights' crop sizes the images
    pretrained = _pretrained_model(cfg, domain, model) if cfg.pretrained else None

    splits = data if data is not None else _load_data(cfg, domain, pretrained)
    if pretrained is not None:
        splits = _weights_preprocessing(splits, pretrained)
    if cfg.select == "train_loss":  # nothing is held out: the epoch is chosen on training loss instead
        splits = splits.without_validation()
    if splits.num_classes < 2:
        # one class makes every prediction right and the loss zero: a run that learns nothing, silently
        raise UserError(f"dataset {splits.name!r} has only one class ({', '.join(map(str, splits.class_names))}); "
                        "a classifier needs at least two")
    derived_note = rare_note = None
    if resume is not None:
        _check_resumed_data(resume, splits)
        config = _resumed_config(resume["config"], cfg, Path(cfg.out))
    else:
        size = splits.meta.get("image_size")
        recorded = _recorded_dataset(cfg, domain) if data is None else None
        derived, data_profile, budget = {}, None, None
        if model is None:
            splits, derived, data_profile, budget = _derive(cfg, domain, splits, recorded)

        def resolve(values: dict[str, Any]) -> RunConfig:
            return recipes.resolve(cfg, splits.task, splits.name, max(size) if isinstance(size, (list, tuple)) else size,
                                   own_model=None if model is None else class_path(model), recorded=recorded,
                                   derived=values)

        config = resolve(derived)
        derived_note = _derived_note(config, resolve({}), derived, data_profile) if derived else None
        rare_note = _rare_classes_note(data_profile, splits.class_names) if data_profile else None
    config = _hardware(config, device, own_model=model is not None)
    validate(config)
    if model is None:
        check_model_domain(config.model, config.domain)
    dist, device, owns_group = _join_group(config, splits, device, distributed.from_env())
    out = _shared_out(Path(cfg.out) if cfg.out else None, domain, dist)
    config = config.replace(out=str(out))
    built, spec, report = _build_model(config, splits, device, model)
    config, bf16_note = _bf16_hazard(config, cfg.amp, built, splits, device) if model is None else (config, None)
    return Plan(config=config, splits=splits, model=built, model_spec=spec, device=device, dist=dist, out=out,
                batch_size=_local_batch(config, splits, dist), resume=resume, init_report=report,
                owns_group=owns_group, epoch_budget=None if resume is not None else budget,
                notes=[] if resume is not None else
                [*_notes(cfg, config, splits, model, data, inferred),
                 *filter(None, [derived_note, rare_note, bf16_note])])


def _hardware(config: RunConfig, device: torch.device, own_model: bool) -> RunConfig:
    """--amp auto and an unset --channels-last resolved from what the device computes natively (hardware.py)."""
    amp = hardware.auto_amp(config.domain, device, own_model) if config.amp == "auto" else config.amp
    cl = hardware.auto_channels_last(config.domain) if config.channels_last is None else config.channels_last
    return config.replace(amp=amp, channels_last=cl)


def _bf16_hazard(config: RunConfig, asked: str | None, model: nn.Module, splits: DataSplits,
                 device: torch.device) -> tuple[RunConfig, str | None]:
    """bf16 on a CPU where a strided convolution sees a 1-pixel side (hardware.one_pixel_convs): fp32 if auto, else a warning.

    Registry models only (the caller's check): probing a user's model would run its forward once more, with
    whatever side effects it has. Graphs are never probed: their samples are not plain tensors.
    """
    if config.amp != "bf16" or device.type != "cpu" or splits.task != "classify" or not len(splits.train):
        return config, None
    item = splits.train[0]
    sample = item[0] if isinstance(item, (tuple, list)) else None
    convs = hardware.one_pixel_convs(model, tuple(sample.shape)) if isinstance(sample, torch.Tensor) else []
    if not convs:
        return config, None
    where = f"{convs[0]}" + (f" and {len(convs) - 1} more" if len(convs) > 1 else "")
    larger = "a larger --image-size" if config.domain == "image" else "longer or larger samples"
    if asked in (None, "auto"):
        return config.replace(amp="off"), (
            f"fp32, not bf16: {where} sees a 1-pixel map at input size {tuple(sample.shape)}, where the CPU's "
            f"bf16 weight gradients come out NaN at random; {larger} would train in bf16")
    return config, (f"--amp bf16 kept as asked, but {where} sees a 1-pixel map at input size {tuple(sample.shape)}, "
                    "where the CPU's bf16 weight gradients come out NaN at random: expect non-finite steps "
                    "(--amp off avoids them)")


def _derive(cfg: TrainConfig, domain: str, splits: DataSplits,
            recorded: str | None) -> tuple[DataSplits, dict[str, Any], Any, int | None]:
    """(splits, derived values, profile, epoch budget): derive.py's rules on this data, around the user's and a published recipe's values.

    The epoch budget is the epochs the rules (or a published recipe) would run without the user's --epochs.

    A derived select train_loss moves the validation samples into training (as --select train_loss does) and
    the rules run again on the larger split; under torchrun a derived batch rounds up to divide by the processes.
    """
    published = recipes.published(domain, splits.task, None if recorded else splits.name)
    fixed = {**published, **cfg.explicit()}
    data_profile = profile(splits)
    derived = derive(data_profile, fixed)
    if derived.get("select") == "train_loss":
        splits = splits.without_validation()
        data_profile = profile(splits)
        derived = {"select": "train_loss", **derive(data_profile, {**fixed, "select": "train_loss"})}
    world = distributed.from_env().world_size
    if "batch_size" in derived and world > 1:
        derived["batch_size"] = -(-derived["batch_size"] // world) * world
    budget = None
    if "epochs" in cfg.explicit():  # what the run would be without the user's --epochs: the rules' epochs
        rest = {k: v for k, v in {**fixed, **derived}.items() if k != "epochs"}
        budget = published.get("epochs") or derive(data_profile, rest).get("epochs")
    return splits, derived, data_profile, budget


# fewer training samples than this in a class: nothing can be learned of it, and inverse-frequency class
# weights would make it dominate the loss; most often a stray folder (run outputs, a README's images)
RARE_CLASS = 5


def _rare_classes_note(data: Any, names: Sequence[Any]) -> str | None:
    """One line naming the classes with fewer than RARE_CLASS training samples, if any."""
    rare = [f"{names[i]} ({c})" for i, c in enumerate(data.class_counts) if c < RARE_CLASS]
    if not rare:
        return None
    shown = ", ".join(rare[:5]) + (f" and {len(rare) - 5} more" if len(rare) > 5 else "")
    return (f"{len(rare)} of {len(names)} classes have fewer than {RARE_CLASS} training samples: {shown}; no "
            "model learns a class from so few: check that these are classes and not stray folders")


def _derived_note(config: RunConfig, without: RunConfig, derived: dict[str, Any], data: Any) -> str | None:
    """One line naming the values the rules changed: those that differ from the run resolved without them."""
    def value(c: RunConfig, option: str) -> Any:
        return c.model_kwargs.get("width") if option == "width" else getattr(c, option)

    kept = [f"{option.replace('_', '-')} {value(config, option)}" for option in derived
            if value(config, option) != value(without, option)]
    if not kept:
        return None
    return (f"recipe derived from the data ({describe(data)}): {', '.join(kept)}; the README's 'Derived recipes' "
            "says why; set any of them to override")


def _notes(given: TrainConfig, config: RunConfig, splits: DataSplits, model: nn.Module | None, data: Any,
           inferred: bool) -> list[str]:
    """Choices made for the user that they should hear about: said once at the start and kept in summary.json."""
    notes = list(splits.meta.get("notes", []))
    if inferred and data is not None:
        shape = splits.meta.get("shape")
        notes.append(f"domain {config.domain} inferred from samples shaped {tuple(shape) if shape else '?'}; pass "
                     "domain= to choose another")
    elif inferred:
        notes.append(f"domain {config.domain} inferred from the files' layout; pass --domain to choose another")
    if model is not None:
        keys = ("optimizer", "lr", "epochs", "batch_size", "schedule")
        unset = [k for k in keys if getattr(given, k) is None]
        if unset:
            notes.append("your model trains with the generic recipe for its task: "
                         + ", ".join(f"{k} {getattr(config, k)}" for k in unset))
    from_files = data is None and _recorded_dataset(given, config.domain) is not None
    for key, domain in (("label_column", "series"), ("directed", "graph")):
        if getattr(given, key) is not None and not (from_files and config.domain == domain):
            what = "a series table" if domain == "series" else "an edge list"
            notes.append(f"--{key.replace('_', '-')} applies to {what} given as --dataset PATH; this data ignores it")
    if config.pretrained:
        from resnet_any.domains.pretrained import note

        notes.append(note(config.model, splits.meta, splits.in_channels))
    return notes
